import { describe, expect, it } from 'vitest';
import type { AccountState, NodeLease } from '@postbus/contracts';
import { planPlacements, type CurrentPlacement } from './placement.js';

const T = new Date('2026-06-01T10:00:00.000Z');
const account = (i: number, status: AccountState['status'] = 'active') =>
  ({ id: `acc_${i}`, status, registeredAt: new Date(T.getTime() + i).toISOString() }) as unknown as AccountState;
const node = (nodeId: string, capacity = 100) => ({ nodeId, capacity }) as NodeLease;
const at = (nodeId: string | null, ageMs = 60_000) => ({ nodeId, assignedAt: new Date(T.getTime() - ageMs) });
const current = (entries: Array<[number, string | null, number?]>) =>
  new Map<string, CurrentPlacement>(entries.map(([i, n, age]) => [`acc_${i}`, { accountId: `acc_${i}`, ...at(n, age) }]));

describe('planPlacements', () => {
  it('spreads new accounts over live nodes by room left', () => {
    const out = planPlacements([1, 2, 3, 4, 5].map((i) => account(i)), new Map(), [node('a'), node('b', 2)]);
    const count = (n: string) => out.filter((d) => d.nodeId === n).length;
    expect([count('a'), count('b')]).toEqual([4, 1]);
    expect(out.every((d) => d.reason === 'new account' && !d.prevNodeDead)).toBe(true);
  });
  it('keeps accounts on live nodes and moves those of a dead one, which cannot release', () => {
    const out = planPlacements([account(1), account(2)], current([[1, 'a'], [2, 'gone']]), [node('a'), node('b')]);
    expect(out).toEqual([{ accountId: 'acc_2', nodeId: 'b', previousNodeId: 'gone', reason: 'node gone lost its lease', prevNodeDead: true }]);
  });
  it('takes stopped accounts off their node', () => {
    const out = planPlacements([account(1, 'suspended')], current([[1, 'a']]), [node('a')]);
    expect(out).toEqual([{ accountId: 'acc_1', nodeId: null, previousNodeId: 'a', reason: 'account suspended', prevNodeDead: false }]);
  });
  it('places nothing when no node has room', () => {
    expect(planPlacements([account(1)], new Map(), [node('a', 0)])).toEqual([]);
  });
  it('rebalances a few accounts per pass onto a node that joined, never one placed a moment ago', () => {
    const accounts = [1, 2, 3, 4, 5, 6].map((i) => account(i));
    const cur = current([[1, 'a'], [2, 'a'], [3, 'a'], [4, 'a'], [5, 'a'], [6, 'a', 1_000]]);
    const out = planPlacements(accounts, cur, [node('a'), node('b')], { maxMoves: 2, minAgeMs: 10_000, now: T });
    expect(out.map((d) => [d.accountId, d.nodeId, d.prevNodeDead])).toEqual([
      ['acc_1', 'b', false],
      ['acc_2', 'b', false],
    ]);
    const more = planPlacements(accounts, cur, [node('a'), node('b')], { maxMoves: 10, minAgeMs: 10_000, now: T });
    expect(more.length).toBe(3); // 6 on one node → 3 and 3
  });
});
