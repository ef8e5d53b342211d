/**
 * How a Gmail account's mailbox is read, decided without I/O: a full listing of the recent
 * INBOX the first time and after an expired history id, else history from the cursor; and
 * what a failed Gmail call means for this pass.
 */

export type GmailStep = { readonly kind: 'resync'; readonly why: 'first' | 'expired' } | { readonly kind: 'history'; readonly from: string };

/** The next read of an account's mailbox from its cursor (null: never read). */
export function nextStep(cursor: { readonly historyId: string | null } | null, expired = false): GmailStep {
  if (expired) return { kind: 'resync', why: 'expired' };
  return cursor?.historyId ? { kind: 'history', from: cursor.historyId } : { kind: 'resync', why: 'first' };
}

/** The search of a full listing: the INBOX of the last `days` days (Gmail's syntax). */
export function resyncQuery(days: number): string {
  if (!Number.isInteger(days) || days < 1) throw new RangeError('resync needs a whole number of days, at least 1');
  return `in:inbox newer_than:${days}d`;
}

/**
 * The cursor to save once the message added by history record `recordId` is processed: one
 * below it, since a record may add several messages and the next listing starts after the
 * cursor (the ones already done are skipped by their record in gmail_reports).
 */
export function cursorBefore(recordId: string): string {
  const id = BigInt(recordId);
  return (id > 0n ? id - 1n : 0n).toString();
}

/** What a failed Gmail call means: the facts of a GmailApiError's classification. */
export interface GmailFailureFacts {
  readonly reason: string;
  readonly scope: 'message' | 'account' | 'platform';
  readonly retryAfterMs?: number | undefined;
}

export type GmailFailureAction =
  /** Google's rate or daily quota: leave the account alone until then; nothing is wrong with it. */
  | { readonly kind: 'throttled'; readonly retryAfterMs: number }
  /** Credentials, delegation, policy, or Google unreachable: recorded on the cursor row and logged; tried again next pass. */
  | { readonly kind: 'failed' };

export function failureAction(f: GmailFailureFacts, intervalMs: number): GmailFailureAction {
  if (f.reason === 'provider_rate_limit' || f.reason === 'provider_daily_limit') {
    // Without a Retry-After, one pass; a daily limit that named none waits an hour, not a day (reads have their own quota).
    const fallback = f.reason === 'provider_daily_limit' ? 3_600_000 : intervalMs;
    return { kind: 'throttled', retryAfterMs: Math.min(f.retryAfterMs ?? fallback, 86_400_000) };
  }
  return { kind: 'failed' };
}
