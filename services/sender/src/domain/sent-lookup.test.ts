import { describe, expect, it } from 'vitest';
import { afterLookup, lookupTiming, type PendingLookup } from './sent-lookup.js';

const sendingAt = new Date('2026-11-28T10:00:00Z');
const p: PendingLookup = { messageId: 'msg_1', assignment: 1, attempt: 1, sendingAt, failures: 0 };
const t = lookupTiming(300_000);
const at = (ms: number) => new Date(sendingAt.getTime() + ms);

describe('afterLookup', () => {
  it('given the message in Sent, then it is recorded sent', () => {
    expect(afterLookup(p, { kind: 'found', gmailId: 'g1' }, at(1_000), t)).toEqual({ kind: 'record_sent', gmailId: 'g1' });
  });

  it('given not found within the window, then it is looked up again (the index lags)', () => {
    expect(afterLookup(p, { kind: 'not_found' }, at(60_000), t)).toEqual({ kind: 'look_again', at: at(60_000 + t.intervalMs), failures: 0 });
  });

  it('given not found after the window, then it stays uncertain', () => {
    expect(afterLookup(p, { kind: 'not_found' }, at(300_000), t)).toEqual({ kind: 'stays_uncertain' });
  });

  it('given a failed lookup, even after the window, then it is tried again later and never taken as not found', () => {
    const step = afterLookup({ ...p, failures: 2 }, { kind: 'failed' }, at(400_000), t);
    expect(step).toEqual({ kind: 'look_again', at: at(400_000 + Math.min(t.maxBackoffMs, t.intervalMs * 8)), failures: 3 });
  });

  it('paces lookups by the window: short in tests, at most 15 s apart', () => {
    expect(lookupTiming(2_000).intervalMs).toBe(200);
    expect(lookupTiming(300_000).intervalMs).toBe(15_000);
  });
});
