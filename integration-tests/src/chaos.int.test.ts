import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@postbus/db';
import { sleep, waitFor, type ServiceName } from '@postbus/testing';
import { ledgerStates, registerAccount, requestMessages, startWorld, type World, waitUntilSettled } from './fixtures.js';

/** Every service but the admin killed with SIGKILL at some point mid-run, then started again. */
describe('processes killed at random', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ users: ['mia', 'ned', 'ola'], sinkDelayMs: 5 });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  it('loses nothing, sends nothing twice, and the read tables agree with the ledger', async () => {
    for (const u of ['mia', 'ned', 'ola']) await registerAccount(w, u, 10_000);
    const total = 600;
    const posting = requestMessages(w, total, 'c');
    // A fixed, shuffled order (reproducible): each service dies once while mail flows.
    const victims: ServiceName[] = ['projector', 'orchestrator', 'sender'];
    await w.sink.waitFor((t) => t.length >= 20, 60_000);
    for (const v of victims) {
      await w.platform.services.get(v)!.kill9();
      await sleep(300);
      await w.platform.startService(v);
      await sleep(700);
    }
    await posting;
    await waitUntilSettled(w, total, 150_000, 'messages did not all reach an outcome');
    expect(w.sink.duplicates()).toEqual([]);
    const states = await ledgerStates(w.db);
    expect((states.sent ?? 0) + (states.uncertain ?? 0)).toBe(total);
    expect(states.uncertain ?? 0).toBeLessThanOrEqual(3);
    // The projector, killed too, catches up to exactly the ledger.
    await waitFor(
      async () => {
        const [q] = await w.db.query(sql`SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, count(*)::int AS n FROM email_queue`);
        return q?.sent === states.sent && q?.n === total;
      },
      { timeoutMs: 30_000, message: 'email_queue does not agree with the ledger' },
    );
    const [dupEvents] = await w.db.query(sql`SELECT count(*)::int AS n FROM (SELECT message_id FROM send_logs WHERE type = 'EmailSent' GROUP BY message_id HAVING count(*) > 1) d`);
    expect(dupEvents!.n).toBe(0);
  }, 240_000);
});
