import type { Classification } from '@postbus/classify';
import type { Outcome } from '@postbus/db';

export const DEFAULT_RETRY_DELAYS_MS = [60_000, 300_000, 900_000] as const;

export interface FailureFacts {
  readonly messageId: string;
  readonly classification: Classification;
  /** 'unknown': the message may be at the server (connection lost after it began to stream). */
  readonly delivered: 'no' | 'unknown';
  /** Attempts already used up by earlier retryable failures. */
  readonly sendFailures: number;
  readonly replyCode?: number;
  readonly reply?: string;
  readonly now: Date;
  readonly retryDelaysMs: readonly number[];
  /** How long an account- or platform-scope failure holds the message back. */
  readonly accountBackoffMs: number;
}

/**
 * What a failed send means for the message. The window after the message began to stream
 * is `uncertain`, never retried. Message-scope failures use up an attempt (60 s, 5 min,
 * 15 min, then failed); account- and platform-scope failures do not: the account is at
 * fault, not the message.
 */
export function outcomeOfFailure(f: FailureFacts): Outcome {
  const { classification: c } = f;
  const reply = f.reply === undefined ? {} : { reply: f.reply };
  const code = f.replyCode === undefined ? {} : { replyCode: f.replyCode };
  if (f.delivered === 'unknown') return { kind: 'uncertain', messageId: f.messageId, reason: `connection_lost_after_data:${c.reason}` };
  if (c.scope !== 'message') {
    return {
      kind: 'retry',
      messageId: f.messageId,
      consumed: false,
      reason: c.reason,
      nextAttemptAt: new Date(f.now.getTime() + f.accountBackoffMs),
      ...code,
      ...reply,
    };
  }
  if (!c.retryable) return { kind: 'failed', messageId: f.messageId, reason: c.reason, ...code, ...reply };
  const delay = f.retryDelaysMs[f.sendFailures];
  if (delay === undefined) return { kind: 'failed', messageId: f.messageId, reason: `retries_exhausted:${c.reason}`, ...code, ...reply };
  return { kind: 'retry', messageId: f.messageId, consumed: true, reason: c.reason, nextAttemptAt: new Date(f.now.getTime() + delay), ...code, ...reply };
}
