import type { Classification, ClassificationScope, Reason } from './types.js';

export interface VerdictExtras {
  readonly retryAfterMs?: number | undefined;
  /** Overrides the default (message scope consumes an attempt, nothing else does). */
  readonly consumesAttempt?: boolean;
}

/** Builds a classification; `hard` follows from the reason so no branch can get it wrong. */
export function verdict(scope: ClassificationScope, retryable: boolean, reason: Reason, extras: VerdictExtras = {}): Classification {
  const hard = !retryable && (reason === 'unknown_user' || reason === 'unknown_domain');
  const consumes = extras.consumesAttempt ?? (scope === 'message' && reason !== 'uncertain');
  const retryAfter = extras.retryAfterMs === undefined ? {} : { retryAfterMs: extras.retryAfterMs };
  return Object.freeze({ scope, retryable, reason, hard, consumesAttempt: consumes, ...retryAfter });
}

/** Whether a failure uses up one of the message's attempts (see Classification.consumesAttempt). */
export function consumesAttempt(c: Classification): boolean {
  return c.consumesAttempt ?? (c.scope === 'message' && c.reason !== 'uncertain');
}
