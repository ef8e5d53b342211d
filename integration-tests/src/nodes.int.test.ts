import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@postbus/db';
import { sleep, waitFor } from '@postbus/testing';
import { ledgerStates, registerAccount, requestMessages, startWorld, type World } from './fixtures.js';

const ACCOUNTS = 30;
const LIMIT = 50;
const NODES = ['node-a', 'node-b', 'node-c'] as const;

interface NodesBody {
  nodes: Array<{ nodeId: string; placed: number; accounts: Array<{ accountId: string; epoch: number }> }>;
  orphaned: number;
}

/**
 * Three sender processes, thirty accounts with one connection each and a send delay, steady
 * traffic. One node is killed, another frozen past its lease and the SMTP server's idle
 * timeout: accounts resume elsewhere, and the SMTP server — which records every transaction
 * of every account, finished or not — never sees two of one account overlap, nor any message
 * twice, nor an account over its limit.
 */
describe('sender nodes: leases, takeover and no overlap', () => {
  let w: World;
  const users = Array.from({ length: ACCOUNTS }, (_, i) => `n${i}`);
  const userOf = new Map<string, string>();

  const nodes = async (): Promise<NodesBody> => (await w.admin.request('GET', '/v1/nodes')).body as NodesBody;
  const pidOf = (nodeId: string) => w.platform.services.get(nodeId)!.process.pid!;

  beforeAll(async () => {
    w = await startWorld({ users, services: ['admin', 'orchestrator', 'projector'], sinkSocketTimeoutMs: 3_000 });
    for (const n of NODES) await w.platform.startService('sender', { POSTBUS_SENDER_NODE_ID: n }, n);
  }, 60_000);
  afterAll(async () => {
    for (const n of NODES) {
      try {
        process.kill(pidOf(n), 'SIGCONT');
      } catch {
        // already gone
      }
    }
    await w?.close();
  });

  it('moves a dead or frozen node’s accounts within 15 s, with no overlapping transactions, duplicates or limit breaches', async () => {
    for (const u of users) userOf.set(await registerAccount(w, u, LIMIT, { sendDelayMs: 600, batchSize: 5 }), u);
    // Balanced, ten each — also when the nodes came up one after another (the leader moves a few per pass).
    await waitFor(async () => JSON.stringify((await nodes()).nodes.map((n) => n.placed)) === '[10,10,10]', {
      timeoutMs: 60_000,
      message: 'accounts were not spread over the three nodes',
    });
    const placed = await nodes();

    // More than the accounts may send: the limits must hold.
    const total = ACCOUNTS * LIMIT + 150;
    await requestMessages(w, total, 'nd');
    await w.sink.waitFor((t) => t.length >= 150, 60_000);

    // kill -9 one node: its accounts must send again, elsewhere, within 15 s.
    const dead = placed.nodes.find((n) => n.nodeId === 'node-a')!;
    const killedAt = Date.now();
    await w.platform.services.get('node-a')!.kill9();
    const resumedAfter = await resumeTimes(dead.accounts.map((a) => userOf.get(a.accountId)!), killedAt).catch(async (err: unknown) => {
      console.log(w.platform.logs('orchestrator').slice(-4000));
      throw err;
    });
    console.log(`after kill -9: accounts resumed elsewhere in ${Math.min(...resumedAfter)}–${Math.max(...resumedAfter)} ms`);
    expect(Math.max(...resumedAfter)).toBeLessThan(15_000);
    const afterKill = await nodes();
    expect(afterKill.nodes.map((n) => n.nodeId)).not.toContain('node-a');

    // kill -STOP another node well past its lease (6 s), the grace (2 s) and the server's idle timeout (3 s).
    const frozen = afterKill.nodes.find((n) => n.nodeId === 'node-b')!;
    const frozenUsers = frozen.accounts.map((a) => userOf.get(a.accountId)!);
    const stoppedAt = Date.now();
    process.kill(pidOf('node-b'), 'SIGSTOP');
    const frozenResumed = await resumeTimes(frozenUsers, stoppedAt);
    console.log(`after kill -STOP: accounts resumed elsewhere in ${Math.min(...frozenResumed)}–${Math.max(...frozenResumed)} ms`);
    expect(Math.max(...frozenResumed)).toBeLessThan(15_000);
    await sleep(Math.max(0, 18_000 - (Date.now() - stoppedAt)));
    process.kill(pidOf('node-b'), 'SIGCONT');

    // Everything the limits allow reaches the server (or is uncertain), and nothing more.
    await waitFor(
      async () => {
        const s = await ledgerStates(w.db);
        return (s.sent ?? 0) + (s.uncertain ?? 0) === ACCOUNTS * LIMIT && !s.claimed && !s.sending;
      },
      { timeoutMs: 150_000, intervalMs: 500, message: 'the accounts did not send up to their limits' },
    );
    console.log(`all sent ${Date.now() - stoppedAt} ms after the STOP; ledger ${JSON.stringify(await ledgerStates(w.db))}`);
    await sleep(2_000); // anything the thawed node might still try, it tries now

    expect(w.sink.overlaps()).toEqual([]);
    expect(w.sink.duplicates()).toEqual([]);
    for (const [user, n] of w.sink.countByUser()) expect(n, `sent through ${user}`).toBeLessThanOrEqual(LIMIT);
    const [over] = await w.db.query(sql`
      SELECT count(*)::int AS n FROM (SELECT account_id, sum(sent) AS s FROM quota_usage GROUP BY account_id) q WHERE q.s > ${LIMIT}`);
    expect(over!.n).toBe(0);
    const states = await ledgerStates(w.db);
    expect((states.sent ?? 0) + (states.uncertain ?? 0)).toBe(ACCOUNTS * LIMIT);
    // The window after DATA is small: at most one message per account of the two nodes.
    expect(states.uncertain ?? 0).toBeLessThanOrEqual(20);
    expect(w.sink.transactions.length).toBeGreaterThanOrEqual(states.sent ?? 0);
  }, 300_000);

  /** For each user, how long after `since` its next transaction began at the server. */
  async function resumeTimes(forUsers: string[], since: number): Promise<number[]> {
    // A transaction whose MAIL FROM was already on the wire at the kill or the STOP arrives a
    // moment later: only what starts 200 ms after counts as resumed elsewhere.
    const first = (u: string) => w.sink.spans.find((s) => s.user === u && s.startedAt > since + 200)?.startedAt;
    await waitFor(async () => forUsers.every((u) => first(u) !== undefined), { timeoutMs: 30_000, intervalMs: 200, message: 'accounts did not resume elsewhere' });
    return forUsers.map((u) => first(u)! - since);
  }
});
