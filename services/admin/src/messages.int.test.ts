import { claimIdempotencyKey, sql } from '@postbus/db';
import { decodeEvent, derivedId, newId, streamName, type EmailRequested } from '@postbus/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestHash } from './domain/canonical.js';
import { startHarness, validAccount, validMessage, type Harness } from '../test/harness.js';

let h: Harness;
let auth: { authorization: string };
let accountId: string;
beforeAll(async () => {
  h = await startHarness();
  auth = await h.authHeader();
  accountId = (await h.app.inject({ method: 'POST', url: '/v1/accounts', headers: auth, payload: validAccount() })).json<{ id: string }>().id;
});
afterAll(async () => {
  await h?.close();
});

interface Accepted {
  id?: string;
  messages: Array<{ id: string; status: string }>;
}

const post = (payload: object, headers: Record<string, string> = {}) =>
  h.app.inject({ method: 'POST', url: '/v1/messages', headers: { ...auth, ...headers }, payload });

/** The stored EmailRequested of one message (its shard subject holds other messages too). */
async function requested(messageId: string): Promise<{ event: EmailRequested; msgId: string | undefined }> {
  const stream = streamName(h.ns, 'REQUESTS');
  const { state } = await h.bus.jsm.streams.info(stream);
  for (let seq = state.last_seq; seq >= state.first_seq && seq > 0; seq--) {
    const m = await h.bus.jsm.streams.getMessage(stream, { seq });
    if (m?.subject !== h.bus.subjects.request(messageId)) continue;
    const event = decodeEvent(m.data) as EmailRequested;
    if (event.messageId === messageId) return { event, msgId: m.header?.get('Nats-Msg-Id') };
  }
  throw new Error(`nothing stored for ${messageId}`);
}

describe('POST /v1/messages', () => {
  it('accepts one message: 202 after EmailRequested is in REQUESTS', async () => {
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const app = await h.variant({ clock: () => now });
    const res = await app.inject({
      method: 'POST',
      url: '/v1/messages',
      headers: auth,
      payload: validMessage({ to: 'Reader@Bücher.example', toName: 'Réader', headers: { 'x-list': 'weekly' }, campaignId: 'spring_2030', variables: { first: 'Ann' } }),
    });
    expect(res.statusCode).toBe(202);
    const body = res.json<Accepted>();
    expect(body.messages).toEqual([{ id: body.id, status: 'accepted' }]);
    const { event, msgId } = await requested(body.id!);
    expect(msgId).toBe(`${body.id}.requested`);
    expect(event).toEqual({
      id: `${body.id}.requested`,
      type: 'EmailRequested',
      version: 1,
      occurredAt: now.toISOString(),
      messageId: body.id,
      data: {
        kind: 'bulk',
        campaignId: 'spring_2030',
        content: {
          to: 'Reader@xn--bcher-kva.example',
          toName: 'Réader',
          subject: 'Hello',
          text: 'Hello there',
          headers: { 'X-list': 'weekly' },
          variables: { first: 'Ann' },
        },
        expiresAt: new Date(now.getTime() + 72 * 3600_000).toISOString(),
        requestedBy: 'admin',
      },
    });
  });

  it('accepts a batch, pinned and transactional, each with its own id', async () => {
    const before = await h.count('REQUESTS');
    const messages = [validMessage(), validMessage({ accountId, kind: 'transactional', expiresInHours: 1, html: '<p>Hi</p>' }), validMessage()];
    const res = await post({ messages });
    expect(res.statusCode).toBe(202);
    const body = res.json<Accepted>();
    expect(body.id).toBeUndefined();
    expect(new Set(body.messages.map((m) => m.id)).size).toBe(3);
    expect(await h.count('REQUESTS')).toBe(before + 3);
    const pinned = (await requested(body.messages[1]!.id)).event;
    expect(pinned).toMatchObject({ accountId, data: { kind: 'transactional', accountId, content: { html: '<p>Hi</p>' } } });
  });
});

describe('Idempotency-Key', () => {
  it('replays the first answer for the same body and publishes once', async () => {
    const before = await h.count('REQUESTS');
    const key = `order-${newId('req')}`;
    const payload = { messages: [validMessage(), validMessage({ to: 'second@example.org' })] };
    const first = await post(payload, { 'idempotency-key': key });
    expect(first.statusCode).toBe(202);
    const ids = first.json<Accepted>().messages.map((m) => m.id);
    expect(ids).toEqual([derivedId('msg', 'admin', key, '0'), derivedId('msg', 'admin', key, '1')]);
    // Same body with its keys in another order: the same request.
    const again = await post({ messages: payload.messages.map((m) => Object.fromEntries(Object.entries(m).reverse())) }, { 'idempotency-key': key });
    expect(again.statusCode).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expect(await h.count('REQUESTS')).toBe(before + 2);
  });

  it('422 idempotency_key_reused for another body under the same key', async () => {
    const key = `k-${newId('req')}`;
    expect((await post(validMessage(), { 'idempotency-key': key })).statusCode).toBe(202);
    const before = await h.count('REQUESTS');
    const res = await post(validMessage({ subject: 'Different' }), { 'idempotency-key': key });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ code: 'idempotency_key_reused' });
    expect(await h.count('REQUESTS')).toBe(before);
  });

  it('409 idempotency_in_progress while the first request is still pending', async () => {
    const key = `k-${newId('req')}`;
    const payload = validMessage();
    await claimIdempotencyKey(h.db, 'admin', key, requestHash(payload), new Date());
    const res = await post(payload, { 'idempotency-key': key });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'idempotency_in_progress' });
    expect(res.headers['retry-after']).toBe('1');
  });

  it('a refused request does not keep its key', async () => {
    const key = `k-${newId('req')}`;
    expect((await post(validMessage({ to: 'broken' }), { 'idempotency-key': key })).statusCode).toBe(422);
    expect((await post(validMessage(), { 'idempotency-key': key })).statusCode).toBe(202);
  });

  it('keys belong to their principal', async () => {
    const key = `k-${newId('req')}`;
    expect((await post(validMessage(), { 'idempotency-key': key })).statusCode).toBe(202);
    const [row] = await h.db.query(sql`SELECT principal, state, status_code FROM idempotency_keys WHERE key = ${key}`);
    expect(row).toEqual({ principal: 'admin', state: 'done', status_code: 202 });
  });
});

describe('GET /v1/messages/:id', () => {
  const requestedAt = new Date('2030-01-02T03:04:05.000Z');
  const insertDelivery = (id: string) =>
    h.db.query(sql`
      INSERT INTO deliveries (message_id, state, kind, account_id, campaign_id, recipient, subject, assignment, attempt,
                              requested_at, requested_by, assigned_at, expires_at)
      VALUES (${id}, 'assigned', 'bulk', ${accountId}, 'spring', 'reader@example.org',
              'Hello', 1, 1,
              ${requestedAt}, 'admin', ${requestedAt}, ${new Date('2030-01-05T03:04:05.000Z')})`);

  it('answers from the ledger, with an empty timeline while send_logs does not exist', async () => {
    const id = newId('msg');
    await insertDelivery(id);
    const res = await h.app.inject({ method: 'GET', url: `/v1/messages/${id}`, headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      id,
      state: 'assigned',
      kind: 'bulk',
      accountId,
      campaignId: 'spring',
      to: 'reader@example.org',
      subject: 'Hello',
      attempt: 1,
      assignment: 1,
      sendFailures: 0,
      requestedAt: requestedAt.toISOString(),
      assignedAt: requestedAt.toISOString(),
      sendingAt: null,
      outcomeAt: null,
      reason: null,
      replyCode: null,
      reply: null,
      expiresAt: '2030-01-05T03:04:05.000Z',
      timeline: [],
    });
  });

  it('adds the timeline from send_logs in event order', async () => {
    const id = newId('msg');
    await insertDelivery(id);
    await h.db.query(sql`CREATE TABLE IF NOT EXISTS send_logs (event_id text PRIMARY KEY, message_id text NOT NULL, account_id text,
                         type text NOT NULL, attempt integer, occurred_at timestamptz NOT NULL, detail jsonb)`);
    await h.db.query(sql`INSERT INTO send_logs VALUES
      (${`${id}.queued.1`}, ${id}, ${accountId}, 'EmailQueued', 1, ${new Date('2030-01-02T03:04:06Z')}, '{"assignment":1}'),
      (${`${id}.b`}, ${id}, NULL, 'EmailWaiting', NULL, ${new Date('2030-01-02T03:04:05Z')}, NULL),
      (${`${id}.a`}, ${id}, NULL, 'EmailRequested', NULL, ${new Date('2030-01-02T03:04:05Z')}, NULL)`);
    const res = await h.app.inject({ method: 'GET', url: `/v1/messages/${id}`, headers: auth });
    const timeline = res.json<{ timeline: Array<{ eventId: string; detail: unknown }> }>().timeline;
    expect(timeline.map((t) => t.eventId)).toEqual([`${id}.a`, `${id}.b`, `${id}.queued.1`]);
    expect(timeline[2]).toMatchObject({ type: 'EmailQueued', accountId, attempt: 1, occurredAt: '2030-01-02T03:04:06.000Z', detail: { assignment: 1 } });
  });

  it('404 message_not_found for an unknown id, 400 for a malformed one', async () => {
    const missing = await h.app.inject({ method: 'GET', url: `/v1/messages/${newId('msg')}`, headers: auth });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'message_not_found' });
    const bad = await h.app.inject({ method: 'GET', url: '/v1/messages/msg_123', headers: auth });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'invalid_request' });
  });
});
