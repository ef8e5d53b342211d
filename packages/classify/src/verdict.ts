import type { Classification, ClassificationScope, Reason } from './types.js';

/** Builds a classification; `hard` follows from the reason so no branch can get it wrong. */
export function verdict(scope: ClassificationScope, retryable: boolean, reason: Reason): Classification {
  const hard = !retryable && (reason === 'unknown_user' || reason === 'unknown_domain');
  return Object.freeze({ scope, retryable, reason, hard });
}
