import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLog } from '@postbus/bus';
import { decodeEvent, queuedOf, sentOf, streamName, type PostbusEvent } from '@postbus/contracts';
import { sql } from '@postbus/db';
import { sleep, waitFor } from '@postbus/testing';
import { expectSettledWithoutDuplicates, registerAccount, requestMessages, startWorld, type World } from './fixtures.js';

/** Every MAIL event of the world, in order. */
async function mailLog(w: World): Promise<PostbusEvent[]> {
  const out: PostbusEvent[] = [];
  for await (const m of readLog(w.bus, { stream: streamName(w.ns, 'MAIL'), idleMs: 1_500 })) out.push(decodeEvent(m.data));
  return out;
}

describe('sends gathered into EmailsSent (POSTBUS_SENDS_PER_EVENT=50)', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ users: ['gina', 'hugo'], sinkDelayMs: 10, env: { POSTBUS_SENDS_PER_EVENT: '50', POSTBUS_SENT_LINGER_MS: '200' } });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  it('writes each send once inside an EmailsSent of its account; after a kill -9, what the dead sender held comes again and is folded once', async () => {
    const accounts = [await registerAccount(w, 'gina', 10_000), await registerAccount(w, 'hugo', 10_000)];
    await requestMessages(w, 300, 'b');
    await w.sink.waitFor((t) => t.length >= 80, 60_000);
    await w.platform.services.get('sender')!.kill9();
    await sleep(300);
    await w.platform.startService('sender');
    const states = await expectSettledWithoutDuplicates(w, 300);
    expect((states.sent ?? 0) + (states.uncertain ?? 0)).toBe(300);

    // The read tables agree with the ledger: each send folded once, batched or not.
    const sent = states.sent ?? 0;
    await waitFor(
      async () => (await w.db.query(sql`SELECT count(*)::int AS n FROM email_queue WHERE status = 'sent'`).catch(() => [{ n: 0 }]))[0]!.n === sent,
      { timeoutMs: 30_000, message: 'email_queue did not reach the ledger’s sent count' },
    ).catch(async (err: unknown) => {
      const [q] = await w.db.query(sql`SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, count(*)::int AS rows FROM email_queue`);
      const missing = await w.db.query(sql`SELECT d.message_id, d.state, e.status FROM deliveries d LEFT JOIN email_queue e USING (message_id) WHERE d.state = 'sent' AND e.status IS DISTINCT FROM 'sent'`);
      const log = await mailLog(w);
      const about = missing.map((m) => ({ ...m, events: log.flatMap((e) => (e.type === 'EmailsSent' ? sentOf(e) : [e])).filter((e) => e.messageId === m.message_id).map((e) => `${e.type} ${e.id}`) }));
      throw new Error(`${(err as Error).message}: ledger ${sent} sent, email_queue ${JSON.stringify(q)}\n${JSON.stringify(about, null, 1)}\n${w.platform.logs('projector').slice(-1500)}\n--- sender\n${w.platform.logs('sender').split('\n').filter((l) => l.includes('"level":40') || l.includes('"level":50')).join('\n').slice(-4000)}`);
    });
    const [logs] = await w.db.query(sql`SELECT count(*)::int AS n, count(DISTINCT message_id)::int AS messages FROM send_logs WHERE type = 'EmailSent'`);
    expect(logs).toEqual({ n: sent, messages: sent });

    // In the log: sends in batches of one account each, every sent message among them; single
    // EmailSent only for sends the restarted sender found already `sent` (its predecessor died
    // before publishing their batch).
    const log = await mailLog(w);
    const batches = log.filter((e) => e.type === 'EmailsSent');
    const singles = log.filter((e) => e.type === 'EmailSent');
    // Gathered: some batch holds more than one send (how many depends on the machine's pace).
    expect(batches.some((b) => b.data.sent.length > 1)).toBe(true);
    expect(batches.every((b) => b.data.sent.length <= 50)).toBe(true);
    for (const b of batches) {
      expect(accounts).toContain(b.accountId);
      expect(sentOf(b).every((e) => e.accountId === b.accountId)).toBe(true);
    }
    const logged = new Set([...batches.flatMap((b) => sentOf(b).map((e) => e.messageId)), ...singles.map((e) => e.messageId)]);
    const ledgerSent = await w.db.query(sql`SELECT message_id FROM deliveries WHERE state = 'sent'`);
    expect(ledgerSent.every((r) => logged.has(r.message_id as string))).toBe(true);
  }, 180_000);
});

describe('messages dispatched together recorded in one EmailsQueued (the default)', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ users: ['ines', 'jon'] });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  it('writes each queueing once inside an EmailsQueued of its account; the read tables fold each message once', async () => {
    const accounts = [await registerAccount(w, 'ines', 10_000), await registerAccount(w, 'jon', 10_000)];
    const ids = await requestMessages(w, 400, 'q');
    const states = await expectSettledWithoutDuplicates(w, 400);
    expect(states.sent).toBe(400);

    const log = await mailLog(w);
    const batches = log.flatMap((e) => (e.type === 'EmailsQueued' ? [e] : []));
    const singles = log.filter((e) => e.type === 'EmailQueued');
    expect(batches.some((b) => b.data.queued.length > 1)).toBe(true);
    for (const b of batches) {
      expect(accounts).toContain(b.accountId);
      expect(queuedOf(b).every((e) => e.accountId === b.accountId)).toBe(true);
    }
    // Every message queued exactly once, with the account and attempt the ledger gave it.
    const queued = [...batches.flatMap((b) => queuedOf(b)), ...singles];
    expect(queued.map((e) => e.messageId).sort()).toEqual([...ids].sort());
    const ledger = new Map((await w.db.query(sql`SELECT message_id, account_id FROM deliveries`)).map((r) => [r.message_id as string, r.account_id as string]));
    expect(queued.every((e) => ledger.get(e.messageId!) === e.accountId && e.type === 'EmailQueued' && e.data.attempt === 1)).toBe(true);

    await waitFor(
      async () => (await w.db.query(sql`SELECT count(*)::int AS n FROM email_queue WHERE status = 'sent'`).catch(() => [{ n: 0 }]))[0]!.n === 400,
      { timeoutMs: 30_000, message: 'email_queue did not reach 400 sent' },
    );
    const rows = await w.db.query(sql`SELECT e.account_id = d.account_id AS same, e.assignment FROM email_queue e JOIN deliveries d USING (message_id)`);
    expect(rows.every((r) => r.same === true && r.assignment === 1)).toBe(true);
    const [logs] = await w.db.query(sql`SELECT count(*)::int AS n, count(DISTINCT message_id)::int AS messages FROM send_logs WHERE type = 'EmailQueued'`);
    expect(logs).toEqual({ n: 400, messages: 400 });
  }, 180_000);
});
