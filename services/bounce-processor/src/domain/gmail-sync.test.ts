import { describe, expect, it } from 'vitest';
import { cursorBefore, failureAction, nextStep, resyncQuery } from './gmail-sync.js';

describe('nextStep', () => {
  it('lists the recent inbox in full when the mailbox was never read', () => {
    expect(nextStep(null)).toEqual({ kind: 'resync', why: 'first' });
    expect(nextStep({ historyId: null })).toEqual({ kind: 'resync', why: 'first' });
  });

  it('reads history from the cursor once there is one', () => {
    expect(nextStep({ historyId: '18446744073709551615' })).toEqual({ kind: 'history', from: '18446744073709551615' });
  });

  it('lists in full again when Google no longer has the cursor’s history', () => {
    expect(nextStep({ historyId: '1234' }, true)).toEqual({ kind: 'resync', why: 'expired' });
  });
});

describe('resyncQuery', () => {
  it('searches the INBOX of the last N days', () => {
    expect(resyncQuery(7)).toBe('in:inbox newer_than:7d');
  });

  it('refuses a window that is not a whole number of days', () => {
    expect(() => resyncQuery(0)).toThrow(RangeError);
    expect(() => resyncQuery(1.5)).toThrow(RangeError);
  });
});

describe('cursorBefore', () => {
  it('is one below the record, so a record adding several messages is read again (the done ones are skipped)', () => {
    expect(cursorBefore('1001')).toBe('1000');
    expect(cursorBefore('0')).toBe('0');
  });

  it('keeps 64-bit history ids exact', () => {
    expect(cursorBefore('18446744073709551615')).toBe('18446744073709551614');
  });
});

describe('failureAction', () => {
  it('leaves a rate-limited account alone for as long as Google says', () => {
    expect(failureAction({ reason: 'provider_rate_limit', scope: 'account', retryAfterMs: 42_000 }, 30_000)).toEqual({ kind: 'throttled', retryAfterMs: 42_000 });
  });

  it('waits one pass for a rate limit without a time, an hour for a daily limit without one', () => {
    expect(failureAction({ reason: 'provider_rate_limit', scope: 'account' }, 30_000)).toEqual({ kind: 'throttled', retryAfterMs: 30_000 });
    expect(failureAction({ reason: 'provider_daily_limit', scope: 'account' }, 30_000)).toEqual({ kind: 'throttled', retryAfterMs: 3_600_000 });
  });

  it('never waits more than a day', () => {
    expect(failureAction({ reason: 'provider_daily_limit', scope: 'account', retryAfterMs: 5 * 86_400_000 }, 30_000)).toEqual({ kind: 'throttled', retryAfterMs: 86_400_000 });
  });

  it('records everything else: refused credentials, missing delegation, Google unreachable', () => {
    for (const [reason, scope] of [['auth_failed', 'account'], ['delegation_missing', 'platform'], ['server_unavailable', 'message'], ['connection_failed', 'platform']] as const) {
      expect(failureAction({ reason, scope }, 30_000)).toEqual({ kind: 'failed' });
    }
  });
});
