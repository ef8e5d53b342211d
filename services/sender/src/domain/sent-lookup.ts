/**
 * Settling an `uncertain` Gmail send by looking it up in the account's Sent mail (DESIGN.md,
 * invariant 5). Gmail's search index lags behind its sends, so "not found" is final only once
 * the lookup window after the send's start has passed; a lookup that failed (quota, network)
 * says nothing and is tried again later. Pure: time comes in.
 */

export interface PendingLookup {
  readonly messageId: string;
  readonly assignment: number;
  readonly attempt: number;
  /** When the send began (the ledger's `sending_at`): the window is counted from it. */
  readonly sendingAt: Date;
  /** Lookups that failed in a row (they space the next ones out). */
  readonly failures: number;
}

export type LookupResult = { readonly kind: 'found'; readonly gmailId: string } | { readonly kind: 'not_found' } | { readonly kind: 'failed' };

export type LookupStep =
  /** Gmail has it: record it sent, never send it again. */
  | { readonly kind: 'record_sent'; readonly gmailId: string }
  /** Not found after the window: it stays `uncertain` (a person sees it); nothing is resent. */
  | { readonly kind: 'stays_uncertain' }
  | { readonly kind: 'look_again'; readonly at: Date; readonly failures: number };

export interface LookupTiming {
  readonly windowMs: number;
  /** Between two lookups of one message. */
  readonly intervalMs: number;
  /** The longest wait after failed lookups. */
  readonly maxBackoffMs: number;
}

/** The lookup pace for a window: about ten looks within it, between 200 ms and 15 s apart. */
export function lookupTiming(windowMs: number): LookupTiming {
  const intervalMs = Math.min(15_000, Math.max(200, Math.floor(windowMs / 10)));
  return { windowMs, intervalMs, maxBackoffMs: Math.max(intervalMs, 60_000) };
}

export function afterLookup(p: PendingLookup, result: LookupResult, now: Date, t: LookupTiming): LookupStep {
  switch (result.kind) {
    case 'found':
      return { kind: 'record_sent', gmailId: result.gmailId };
    case 'not_found':
      if (now.getTime() >= p.sendingAt.getTime() + t.windowMs) return { kind: 'stays_uncertain' };
      return { kind: 'look_again', at: new Date(now.getTime() + t.intervalMs), failures: 0 };
    case 'failed': {
      const failures = p.failures + 1;
      const wait = Math.min(t.maxBackoffMs, t.intervalMs * 2 ** Math.min(failures, 16));
      return { kind: 'look_again', at: new Date(now.getTime() + wait), failures };
    }
    default: {
      const never: never = result;
      return never;
    }
  }
}
