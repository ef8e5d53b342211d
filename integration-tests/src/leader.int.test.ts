import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@postbus/db';
import { waitFor } from '@postbus/testing';
import { ledgerStates, registerAccount, requestMessages, startWorld, waitUntilSettled, type World } from './fixtures.js';

/**
 * Two orchestrators; the leader is killed mid-run. The other leads within 15 s under a new
 * epoch, dispatch goes on, and nothing is dispatched twice.
 */
describe('orchestrator leader election', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ users: ['la', 'lb', 'lc'], sinkDelayMs: 5 });
    await w.platform.startService('orchestrator', { POSTBUS_ORCHESTRATOR_ID: 'orchestrator-b' }, 'orchestrator-b');
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  const leader = async () => (await w.admin.request('GET', '/v1/nodes')).body.leader as { holder: string; epoch: number; live: boolean };

  it('fails over within 15 s and dispatches each message once', async () => {
    for (const u of ['la', 'lb', 'lc']) await registerAccount(w, u, 10_000, { sendDelayMs: 20 });
    await requestMessages(w, 300, 'l1');
    await w.sink.waitFor((t) => t.length >= 50, 60_000);
    const before = await leader();
    expect(before.live).toBe(true);
    const leading = before.holder === 'orchestrator-b' ? 'orchestrator-b' : 'orchestrator';
    const killedAt = Date.now();
    await w.platform.services.get(leading)!.kill9();
    await waitFor(async () => {
      const l = await leader();
      return l.live && l.holder !== before.holder && l.epoch > before.epoch;
    }, { timeoutMs: 20_000, intervalMs: 200, message: 'no other orchestrator took the lead' });
    const tookOver = Date.now() - killedAt;
    console.log(`a new leader within ${tookOver} ms of the old one's kill -9`);
    expect(tookOver).toBeLessThan(15_000);

    // Dispatch continues under the new leader.
    await requestMessages(w, 300, 'l2');
    await waitUntilSettled(w, 600, 120_000);
    const states = await ledgerStates(w.db);
    expect((states.sent ?? 0) + (states.uncertain ?? 0)).toBe(600);
    expect(w.sink.duplicates()).toEqual([]);
    // One assignment and one attempt each: no message was dispatched a second time.
    const [again] = await w.db.query(sql`SELECT count(*)::int AS n FROM deliveries WHERE assignment <> 1 OR attempt <> 1`);
    expect(again!.n).toBe(0);
    const after = await leader();
    expect(after.epoch).toBeGreaterThan(before.epoch);
  }, 240_000);
});
