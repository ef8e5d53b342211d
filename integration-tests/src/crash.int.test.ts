import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@postbus/db';
import { sleep, waitFor } from '@postbus/testing';
import { expectSettledWithoutDuplicates, registerAccount, requestMessages, startWorld, type World } from './fixtures.js';

describe('kill -9 of the sender mid-run', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ users: ['erin', 'frank'], sinkDelayMs: 15 });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  it('reaches one outcome per message (or uncertain) and the SMTP server sees no message twice', async () => {
    await registerAccount(w, 'erin', 10_000);
    await registerAccount(w, 'frank', 10_000);
    await requestMessages(w, 400, 'k');
    await w.sink.waitFor((t) => t.length >= 60, 60_000);
    await w.platform.services.get('sender')!.kill9();
    const atKill = w.sink.transactions.length;
    await sleep(500);
    await w.platform.startService('sender');
    const states = await expectSettledWithoutDuplicates(w, 400);
    // At most one message per account was between "sending" and its outcome at the kill.
    expect(states.uncertain ?? 0).toBeLessThanOrEqual(2);
    expect((states.sent ?? 0) + (states.uncertain ?? 0)).toBe(400);
    expect(atKill).toBeLessThan(400);
    // Every outcome reached the log: the read tables come to agree with the ledger (a work item
    // acked before its event was stored would leave its message unsent there for good).
    await waitFor(
      async () => {
        const [q] = await w.db.query(sql`SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, count(*) FILTER (WHERE status = 'uncertain')::int AS uncertain FROM email_queue`).catch(() => [undefined]);
        return q?.sent === (states.sent ?? 0) && q?.uncertain === (states.uncertain ?? 0);
      },
      { timeoutMs: 30_000, message: 'email_queue did not come to agree with the ledger' },
    );
  }, 180_000);
});
