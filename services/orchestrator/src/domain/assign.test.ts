import { describe, expect, it } from 'vitest';
import { assign, type Candidate, type Wanted } from './assign.js';

const bulk = (id: string, pinned: string | null = null): Wanted => ({ messageId: id, kind: 'bulk', pinnedAccountId: pinned });
const acct = (id: string, credit: number, hasPostalAddress = true): Candidate => ({ accountId: id, credit, hasPostalAddress });

describe('assign', () => {
  it('given three accounts with room for 2 each and 8 messages, then 2 each and 2 wait', () => {
    const out = assign(['1', '2', '3', '4', '5', '6', '7', '8'].map((i) => bulk(i)), [acct('a', 2), acct('b', 2), acct('c', 2)]);
    const counts = new Map<string | null, number>();
    for (const v of out.values()) counts.set(v, (counts.get(v) ?? 0) + 1);
    expect(counts).toEqual(new Map([['a', 2], ['b', 2], ['c', 2], [null, 2]]));
  });

  it('given uneven credit, then the account with most room is filled first', () => {
    const out = assign([bulk('1'), bulk('2'), bulk('3')], [acct('a', 1), acct('b', 5)]);
    expect([...out.values()]).toEqual(['b', 'b', 'b']);
  });

  it('given a pinned account without room, then the message waits rather than moving', () => {
    const out = assign([bulk('1', 'a')], [acct('a', 0), acct('b', 10)]);
    expect(out.get('1')).toBeNull();
  });

  it('given bulk mail, then only accounts with a postal address take it; transactional goes anywhere', () => {
    const out = assign([bulk('1'), { messageId: '2', kind: 'transactional', pinnedAccountId: null }], [acct('a', 5, false)]);
    expect(out.get('1')).toBeNull();
    expect(out.get('2')).toBe('a');
  });
});
