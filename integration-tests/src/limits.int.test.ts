import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@postbus/db';
import { waitFor, sleep } from '@postbus/testing';
import { ledgerStates, registerAccount, requestMessages, startWorld, type World } from './fixtures.js';

describe('limits across accounts (3 accounts × 100 a day, 500 requested)', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ users: ['alice', 'bob', 'carol', 'dave'] });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  it('sends exactly 300, 100 through each account, keeps 200 waiting, then sends 100 more through a fourth account', async () => {
    const accounts = [await registerAccount(w, 'alice', 100), await registerAccount(w, 'bob', 100), await registerAccount(w, 'carol', 100)];
    const ids = await requestMessages(w, 500);
    expect(new Set(ids).size).toBe(500);

    await w.sink.waitFor((t) => t.length >= 300, 60_000);
    await waitFor(async () => (await ledgerStates(w.db)).waiting === 200, { timeoutMs: 20_000, message: 'waiting rows' });
    await sleep(1_500); // nothing more may go out
    expect(w.sink.transactions).toHaveLength(300);
    expect(Object.fromEntries(w.sink.countByUser())).toEqual({ alice: 100, bob: 100, carol: 100 });
    expect(w.sink.duplicates()).toEqual([]);
    expect(await ledgerStates(w.db)).toEqual({ sent: 300, waiting: 200 });

    // The waiting messages are visible through the API.
    const waiting = await w.db.query(sql`SELECT message_id FROM deliveries WHERE state = 'waiting' LIMIT 1`);
    const one = await w.admin.request('GET', `/v1/messages/${waiting[0]!.message_id}`);
    expect(one.status).toBe(200);
    expect(one.body.state).toBe('waiting');

    const dave = await registerAccount(w, 'dave', 100);
    await w.sink.waitFor((t) => t.length >= 400, 30_000);
    await sleep(1_500);
    expect(w.sink.transactions).toHaveLength(400);
    expect(w.sink.countByUser().get('dave')).toBe(100);
    expect(await ledgerStates(w.db)).toEqual({ sent: 400, waiting: 100 });

    // Each account's server saw only its own credentials, and the quota table agrees.
    const usage = await w.db.query(sql`SELECT account_id, sum(sent)::int AS n FROM quota_usage GROUP BY account_id`);
    expect(Object.fromEntries(usage.map((u) => [u.account_id, u.n]))).toEqual(Object.fromEntries([...accounts, dave].map((a) => [a, 100])));

    // The read tables agree with the ledger once the projector has caught up.
    await waitFor(
      async () => {
        const [q] = await w.db.query(sql`SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, count(*) FILTER (WHERE status = 'waiting')::int AS waiting FROM email_queue`).catch(() => [undefined]);
        return q?.sent === 400 && q?.waiting === 100;
      },
      { timeoutMs: 20_000, message: 'email_queue did not reach 400 sent / 100 waiting' },
    );
    const [logs] = await w.db.query(sql`SELECT count(*)::int AS n FROM send_logs WHERE type = 'EmailSent'`);
    expect(logs!.n).toBe(400);
    const sa = await w.db.query(sql`SELECT account_id, daily_limit FROM sender_accounts ORDER BY account_id`);
    expect(sa).toHaveLength(4);
  }, 180_000);
});
