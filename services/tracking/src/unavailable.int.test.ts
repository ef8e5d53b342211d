import { connectBus, type Bus } from '@postbus/bus';
import { addressHash } from '@postbus/contracts';
import { connectDatabase, migrate, sql, type Database } from '@postbus/db';
import { createLogger } from '@postbus/telemetry';
import { sharedNatsUrl, startPostgresServer, testNamespace, type PostgresServer } from '@postbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIXEL, ensureOutbox, outboxSize, reconcileOnce, startReconciler } from './index.js';
import { ids, recipient, startHarness, type Harness } from '../test/harness.js';

/**
 * When a dependency is away. NATS: the unsubscribe is still answered 200 (the row is what the
 * claim reads) and its events wait in the outbox until the reconciler appends them. Postgres:
 * 503 with Retry-After (nothing recorded; the client retries), and nothing lost once it is back.
 */
let h: Harness;
let bare: Bus;
beforeAll(async () => {
  h = await startHarness('unavailable');
  // Connected, but its namespace has no streams: every publish is refused at once.
  bare = await connectBus({ servers: [sharedNatsUrl()], name: 'tracking-test-bare', namespace: testNamespace() });
});
afterAll(async () => {
  await bare?.close();
  await h?.close();
});

const hex = (address: string) => addressHash(address).toString('hex');
const post = (app: Harness['app'], token: string) =>
  app.inject({ method: 'POST', url: `/unsubscribe/${token}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click' });

async function eventsFor(address: string) {
  const hash = hex(address);
  return {
    suppressed: (await h.events('SUPPRESSION')).filter((e) => e.event.type === 'AddressSuppressed' && e.event.data.addressHash === hash),
    unsubscribed: (await h.events('TRACKING')).filter((e) => e.event.type === 'Unsubscribed' && e.event.data.addressHash === hash),
  };
}

describe('the event log refuses the publish', () => {
  it('the unsubscribe answers 200 with the row written; the reconciler appends the missing events once', async () => {
    const app = await h.variant({ bus: bare, publishTimeoutMs: 500 });
    const address = recipient();
    const ref = ids();
    const res = await post(app, h.tokens.issue('unsub', { ...ref, address, campaignId: 'c7' }));
    expect(res.statusCode).toBe(200);
    expect(await h.env.db.query(sql`SELECT reason FROM suppressions WHERE address_hash = ${addressHash(address)}`)).toEqual([{ reason: 'unsubscribed' }]);
    expect(await eventsFor(address)).toEqual({ suppressed: [], unsubscribed: [] });
    expect(await outboxSize(h.env.db)).toBe(2);

    // Too young for the reconciler by default (its request may still be publishing it).
    expect(await reconcileOnce({ bus: h.env.bus, db: h.env.db, log: h.deps.log })).toEqual({ published: 0, failed: 0, unreadable: 0 });
    // NATS still away: nothing lost, nothing removed.
    expect(await reconcileOnce({ bus: bare, db: h.env.db, log: h.deps.log }, { minAgeMs: 0, publishTimeoutMs: 500 })).toMatchObject({ published: 0, failed: 2 });
    expect(await outboxSize(h.env.db)).toBe(2);

    expect(await reconcileOnce({ bus: h.env.bus, db: h.env.db, log: h.deps.log }, { minAgeMs: 0 })).toEqual({ published: 2, failed: 0, unreadable: 0 });
    const { suppressed, unsubscribed } = await eventsFor(address);
    expect(suppressed).toHaveLength(1);
    expect(suppressed[0]!.event).toMatchObject({ type: 'AddressSuppressed', messageId: ref.messageId, data: { addressHash: hex(address), reason: 'unsubscribed' } });
    expect(unsubscribed).toHaveLength(1);
    expect(unsubscribed[0]!.event).toMatchObject({ id: `${ref.messageId}.unsubscribed`, data: { method: 'one_click', campaignId: 'c7' } });
    expect(await outboxSize(h.env.db)).toBe(0);
    expect(await reconcileOnce({ bus: h.env.bus, db: h.env.db, log: h.deps.log }, { minAgeMs: 0 })).toEqual({ published: 0, failed: 0, unreadable: 0 });
  });

  it('the periodic loop appends them by itself, in batches', async () => {
    const app = await h.variant({ bus: bare, publishTimeoutMs: 500 });
    const addresses = Array.from({ length: 5 }, () => recipient('loop'));
    for (const address of addresses) expect((await post(app, h.tokens.issue('unsub', { ...ids(), address }))).statusCode).toBe(200);
    expect(await outboxSize(h.env.db)).toBe(10);
    const loop = startReconciler({ bus: h.env.bus, db: h.env.db, log: h.deps.log }, { intervalMs: 100, minAgeMs: 0, batchSize: 3 });
    try {
      await expect.poll(() => outboxSize(h.env.db), { timeout: 10_000 }).toBe(0);
    } finally {
      await loop.stop();
    }
    for (const address of addresses) {
      const { suppressed, unsubscribed } = await eventsFor(address);
      expect([suppressed.length, unsubscribed.length]).toEqual([1, 1]);
    }
  });

  it('an outbox row that no longer decodes is left in place and reported, the rest goes out', async () => {
    await h.env.db.query(sql`INSERT INTO tracking_outbox (event_id, event, created_at) VALUES ('broken.1', '{"type":"Nope"}', now() - interval '1 hour')`);
    const app = await h.variant({ bus: bare, publishTimeoutMs: 500 });
    const address = recipient();
    await post(app, h.tokens.issue('unsub', { ...ids(), address }));
    expect(await reconcileOnce({ bus: h.env.bus, db: h.env.db, log: h.deps.log }, { minAgeMs: 0 })).toEqual({ published: 2, failed: 0, unreadable: 1 });
    expect(await h.env.db.query(sql`SELECT event_id FROM tracking_outbox`)).toEqual([{ event_id: 'broken.1' }]);
    await h.env.db.query(sql`DELETE FROM tracking_outbox`);
  });
});

describe('Postgres is down', () => {
  let pg: PostgresServer;
  let db: Database;
  beforeAll(async () => {
    pg = await startPostgresServer();
    db = connectDatabase({ url: pg.url, poolSize: 2 });
    await migrate(db);
    await ensureOutbox(db);
  });
  afterAll(async () => {
    await db?.dispose();
    await pg?.destroy();
  });

  it('503 with Retry-After and nothing recorded; opens and clicks still answered; the retry after it is back succeeds', async () => {
    const lines: string[] = [];
    const log = createLogger({ service: 'tracking', level: 'info', destination: { write: (line: string) => void lines.push(line) } });
    const app = await h.variant({ db, log });
    const address = recipient();
    const ref = ids();
    const token = h.tokens.issue('unsub', { ...ref, address });
    await pg.stop();

    const res = await post(app, token);
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers.location).toBeUndefined();
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    const pixel = await app.inject({ method: 'GET', url: `/track/open/${h.tokens.issue('open', ref)}` });
    expect(pixel.rawPayload.equals(PIXEL)).toBe(true);
    const clickToken = h.tokens.issue('click', { ...ref, url: 'https://example.com/lost-click' });
    const click = await app.inject({ method: 'GET', url: `/track/click/${clickToken}` });
    // The trade-off: the person still reaches the URL, the click (not durable) is lost and said so.
    expect(click.statusCode).toBe(302);
    expect(click.headers.location).toBe('https://example.com/lost-click');
    const lost = lines.map((l) => JSON.parse(l) as { level: unknown; msg: string; code?: string }).filter((l) => l.msg.startsWith('click lost'));
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({ level: 40, code: 'database_unavailable' });
    expect(lines.join('')).not.toContain('lost-click');
    expect(lines.join('')).not.toContain(clickToken);
    expect(await eventsFor(address)).toEqual({ suppressed: [], unsubscribed: [] });

    await pg.start();
    await expect.poll(async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode, { timeout: 15_000 }).toBe(200);
    const retry = await post(app, token);
    expect(retry.statusCode).toBe(200);
    expect(await db.query(sql`SELECT reason FROM suppressions WHERE address_hash = ${addressHash(address)}`)).toEqual([{ reason: 'unsubscribed' }]);
    const { suppressed, unsubscribed } = await eventsFor(address);
    expect([suppressed.length, unsubscribed.length]).toEqual([1, 1]);
    expect(await outboxSize(db)).toBe(0);
  });
});
