import { decodeEvent, derivedId, type PostbusEvent } from '@postbus/contracts';
import { sql } from '@postbus/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../test/harness.js';

let h: Harness;
let auth: { authorization: string };
const ACC = 'acc_01J0000000000000000000000A';
const id = (n: string) => derivedId('msg', 'search-test', n);

async function ledgerRow(messageId: string, state: string, over: { account?: string | null; campaign?: string | null; to?: string } = {}) {
  const account = over.account === undefined ? ACC : over.account;
  await h.db.query(sql`
    INSERT INTO deliveries (message_id, state, kind, account_id, campaign_id, recipient, subject, assignment, attempt, requested_at, requested_by, expires_at)
    VALUES (${messageId}, ${state}, 'bulk', ${account}, ${over.campaign ?? null}, ${over.to ?? 'reader@example.org'}, 'Hello',
            ${account ? 1 : 0}, ${account ? 1 : 0}, now(), 'test', now() + interval '1 day')`);
}

async function queueRow(messageId: string, status: string, at: string, over: { account?: string; campaign?: string; to?: string } = {}) {
  await h.db.query(sql`
    INSERT INTO email_queue (message_id, kind, recipient, subject, campaign_id, account_id, status, assignment, attempt, requested_at, updated_at)
    VALUES (${messageId}, 'bulk', ${over.to ?? 'reader@example.org'}, 'Hello', ${over.campaign ?? null}, ${over.account ?? ACC}, ${status}, 1, 1, ${at}::timestamptz, ${at}::timestamptz)`);
}

async function mailEvents(): Promise<PostbusEvent[]> {
  return (await h.rawMessages('MAIL')).map((m) => decodeEvent(m.data));
}

beforeAll(async () => {
  h = await startHarness();
  auth = await h.authHeader();
  // The read tables are the projector's; here they are made by hand with the columns read.
  await h.db.query(sql`CREATE TABLE email_queue (message_id text PRIMARY KEY, kind text, recipient text, subject text, campaign_id text, account_id text,
    status text NOT NULL, assignment integer NOT NULL, attempt integer NOT NULL, requested_at timestamptz, queued_at timestamptz, sent_at timestamptz,
    outcome_at timestamptz, last_reason text, reply_code integer, updated_at timestamptz NOT NULL)`);
  await h.db.query(sql`CREATE TABLE send_logs (event_id text PRIMARY KEY, message_id text NOT NULL, account_id text, type text NOT NULL, attempt integer,
    occurred_at timestamptz NOT NULL, detail jsonb NOT NULL)`);
});
afterAll(async () => {
  await h?.close();
});

describe('GET /v1/messages', () => {
  beforeAll(async () => {
    for (let i = 0; i < 7; i++) await queueRow(id(`s${i}`), i % 2 ? 'sent' : 'queued', `2030-01-01T00:00:0${i}.000Z`, { campaign: i < 3 ? 'spring' : 'summer' });
    await queueRow(id('gmail'), 'failed', '2030-01-02T00:00:00.000Z', { to: 'Ann.Smith+news@googlemail.com', account: 'acc_01J0000000000000000000000B' });
  });

  const search = (q: string) => h.app.inject({ method: 'GET', url: `/v1/messages?${q}`, headers: auth });

  it('filters by state, campaign, account and time, newest first, with a cursor', async () => {
    const sent = (await search('state=sent')).json<{ messages: Array<{ id: string; state: string }> }>();
    expect(sent.messages.map((m) => m.id)).toEqual([id('s5'), id('s3'), id('s1')]);
    const spring = (await search('campaignId=spring')).json<{ messages: Array<{ id: string }> }>();
    expect(spring.messages).toHaveLength(3);
    expect((await search('accountId=acc_01J0000000000000000000000B')).json<{ messages: unknown[] }>().messages).toHaveLength(1);
    const window = (await search(`from=2030-01-01T00:00:02.000Z&to=2030-01-01T00:00:05.000Z`)).json<{ messages: Array<{ id: string }> }>();
    expect(window.messages.map((m) => m.id)).toEqual([id('s4'), id('s3'), id('s2')]);

    const seen: string[] = [];
    let next: string | null = null;
    do {
      const res = await search(`limit=3${next ? `&after=${next}` : ''}`);
      expect(res.statusCode, res.body).toBe(200);
      const page: { messages: Array<{ id: string }>; next: string | null } = res.json();
      seen.push(...page.messages.map((m) => m.id));
      next = page.next;
    } while (next);
    expect(seen).toHaveLength(8);
    expect(new Set(seen).size).toBe(8);
  });

  it('matches the recipient after normalisation', async () => {
    const res = (await search(`recipient=${encodeURIComponent('annsmith@GMAIL.com')}`)).json<{ messages: Array<{ id: string; to: string }> }>();
    expect(res.messages).toEqual([expect.objectContaining({ id: id('gmail'), to: 'Ann.Smith+news@googlemail.com' })]);
    expect((await search('recipient=READER@example.org')).json<{ messages: unknown[] }>().messages).toHaveLength(7);
    expect((await search('recipient=not-an-address')).statusCode).toBe(422);
  });

  it('refuses a forged cursor and unknown filters', async () => {
    expect((await search('after=bm9wZQ')).json<{ code: string }>().code).toBe('invalid_cursor');
    expect((await search('state=nonsense')).statusCode).toBe(400);
    expect((await search('password=x')).statusCode).toBe(400);
  });
});

describe('GET /v1/messages/:id/events', () => {
  it('answers the timeline in order', async () => {
    const m = id('timeline');
    await ledgerRow(m, 'sent');
    await h.db.query(sql`INSERT INTO send_logs VALUES (${`${m}.1.1.sent`}, ${m}, ${ACC}, 'EmailSent', 1, '2030-01-01T00:00:02Z', '{"attempt":1}'),
                                                     (${`${m}.requested`}, ${m}, NULL, 'EmailRequested', NULL, '2030-01-01T00:00:00Z', '{"kind":"bulk"}')`);
    const res = await h.app.inject({ method: 'GET', url: `/v1/messages/${m}/events`, headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json<{ events: Array<{ type: string }> }>().events.map((e) => e.type)).toEqual(['EmailRequested', 'EmailSent']);
    expect((await h.app.inject({ method: 'GET', url: `/v1/messages/${id('nobody')}/events`, headers: auth })).statusCode).toBe(404);
  });
});

describe('POST /v1/messages/:id/cancel', () => {
  const cancel = (m: string) => h.app.inject({ method: 'POST', url: `/v1/messages/${m}/cancel`, headers: auth, payload: { reason: 'wrong list' } });

  it('cancels waiting, assigned and retrying messages in the ledger, with an EmailCancelled', async () => {
    await ledgerRow(id('c-assigned'), 'assigned', { campaign: 'spring' });
    await ledgerRow(id('c-waiting'), 'waiting', { account: null });
    await ledgerRow(id('c-retry'), 'retry_wait');
    for (const m of [id('c-assigned'), id('c-waiting'), id('c-retry')]) {
      const res = await cancel(m);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ id: m, state: 'cancelled' });
      const [row] = await h.db.query(sql`SELECT state, reason FROM deliveries WHERE message_id = ${m}`);
      expect(row).toEqual({ state: 'cancelled', reason: 'cancelled' });
    }
    const events = (await mailEvents()).filter((e) => e.type === 'EmailCancelled');
    expect(events.map((e) => e.messageId).sort()).toEqual([id('c-assigned'), id('c-waiting'), id('c-retry')].sort());
    expect(events.find((e) => e.messageId === id('c-assigned'))).toMatchObject({ id: `${id('c-assigned')}.cancelled`, accountId: ACC, data: { assignment: 1, attempt: 1, campaignId: 'spring', reason: 'wrong list' } });
    // Again: the same answer, and the same event id (dropped as a duplicate).
    expect((await cancel(id('c-assigned'))).statusCode).toBe(200);
    expect((await mailEvents()).filter((e) => e.type === 'EmailCancelled')).toHaveLength(3);
  });

  it('refuses a claimed or sending message (409 message_in_flight) and an ended one (409 message_final)', async () => {
    await ledgerRow(id('c-claimed'), 'claimed');
    await ledgerRow(id('c-sending'), 'sending');
    await ledgerRow(id('c-sent'), 'sent');
    for (const m of [id('c-claimed'), id('c-sending')]) {
      const res = await cancel(m);
      expect(res.statusCode).toBe(409);
      expect(res.json<{ code: string }>().code).toBe('message_in_flight');
    }
    expect((await cancel(id('c-sent'))).json<{ code: string }>().code).toBe('message_final');
    const [row] = await h.db.query(sql`SELECT state FROM deliveries WHERE message_id = ${id('c-claimed')}`);
    expect(row?.state).toBe('claimed');
  });

  it('cancels a message still only requested: its ledger row is written cancelled first', async () => {
    await queueRow(id('c-requested'), 'requested', '2030-01-03T00:00:00.000Z');
    expect((await cancel(id('c-requested'))).statusCode).toBe(200);
    const [row] = await h.db.query(sql`SELECT state FROM deliveries WHERE message_id = ${id('c-requested')}`);
    expect(row?.state).toBe('cancelled');
    expect((await cancel(id('unknown'))).statusCode).toBe(404);
  });

  it('is fenced against a concurrent claim: exactly one of them wins', async () => {
    for (let i = 0; i < 10; i++) {
      const m = id(`race${i}`);
      await ledgerRow(m, 'assigned');
      const claim = h.db.query(sql`UPDATE deliveries SET state = 'claimed' WHERE message_id = ${m} AND state = 'assigned' RETURNING 1`);
      const [claimed, res] = await Promise.all([claim, cancel(m)]);
      const [row] = await h.db.query(sql`SELECT state FROM deliveries WHERE message_id = ${m}`);
      if (claimed.length === 1) {
        expect(res.statusCode).toBe(409);
        expect(row?.state).toBe('claimed');
      } else {
        expect(res.statusCode).toBe(200);
        expect(row?.state).toBe('cancelled');
      }
    }
  });
});
