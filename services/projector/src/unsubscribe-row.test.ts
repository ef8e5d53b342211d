import { describe, expect, it } from 'vitest';
import { unsubscribeRowOf, unsubscribeRows, type SuppressionFact } from './domain/unsubscribe-row.js';

const H = 'a'.repeat(64);
const t = (s: number) => `2025-03-01T08:00:${String(s).padStart(2, '0')}.000000Z`;
const unsub = (id: string, s: number, messageId = `msg_${id}`): SuppressionFact => ({
  eventId: id, type: 'Unsubscribed', addressHash: H, messageId, accountId: 'acc_1', campaignId: 'spring', reason: 'one_click', source: null, actor: null, occurredAt: t(s),
});
const removed = (id: string, s: number): SuppressionFact => ({
  eventId: id, type: 'SuppressionRemoved', addressHash: H, messageId: null, accountId: null, campaignId: null, reason: 'asked', source: null, actor: 'admin', occurredAt: t(s),
});
const suppressed = (id: string, s: number, reason = 'hard_bounce'): SuppressionFact => ({
  eventId: id, type: 'AddressSuppressed', addressHash: H, messageId: null, accountId: null, campaignId: null, reason, source: 'bounce', actor: null, occurredAt: t(s),
});

describe('unsubscribe_list row of an address', () => {
  it('given two unsubscribes, the first one is the row, whatever the order they arrive in', () => {
    const facts = [unsub('b', 20), unsub('a', 10)];
    expect(unsubscribeRowOf(facts)).toEqual({ addressHash: H, messageId: 'msg_a', accountId: 'acc_1', campaignId: 'spring', method: 'one_click', unsubscribedAt: t(10) });
    expect(unsubscribeRowOf([...facts].reverse())).toEqual(unsubscribeRowOf(facts));
  });

  it('given a removal after the unsubscribe, there is no row; an unsubscribe after it opens a new one', () => {
    expect(unsubscribeRowOf([removed('r', 30), unsub('a', 10)])).toBeUndefined();
    expect(unsubscribeRowOf([unsub('c', 40), removed('r', 30), unsub('a', 10)])).toMatchObject({ messageId: 'msg_c', unsubscribedAt: t(40) });
  });

  it('given a removal before any unsubscribe (the SUPPRESSION stream read first), the later unsubscribe still stands', () => {
    expect(unsubscribeRowOf([removed('r', 5), unsub('a', 10)])).toMatchObject({ messageId: 'msg_a' });
  });

  it('given equal times, the event id decides', () => {
    expect(unsubscribeRowOf([unsub('b', 10), removed('a', 10)])).toMatchObject({ messageId: 'msg_b' });
    expect(unsubscribeRowOf([unsub('a', 10), removed('b', 10)])).toBeUndefined();
  });

  it('given only suppressions (bounce, complaint, a person), there is no unsubscribe row', () => {
    expect(unsubscribeRowOf([suppressed('s', 10), suppressed('u', 11, 'unsubscribed')])).toBeUndefined();
    expect(unsubscribeRows([suppressed('s', 10)])).toEqual(new Map([[H, undefined]]));
  });
});
