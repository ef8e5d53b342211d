import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectBus } from '@postbus/bus';
import { MAX_OPENS_PER_EVENT, newId, opensRecordedEventId, type LinkClicked, type OpensRecorded, type RecordedOpen } from '@postbus/contracts';
import { createLogger } from '@postbus/telemetry';
import { sharedNatsUrl, testNamespace } from '@postbus/testing';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@postbus/db';
import { OpenWorker } from './adapters/open-worker.js';
import { PIXEL, reconcileOnce } from './index.js';
import { ids, recipient, startHarness, testTokenKeyring, type Harness } from '../test/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('track');
});
afterAll(async () => {
  await h?.close();
});

const BROWSER = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)';
const GMAIL_PROXY = 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)';

/** Changes one character in the middle of a token (the bytes stay base64url-canonical). */
function tamper(token: string): string {
  const i = Math.floor(token.length / 2);
  return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
}

/** Headers that must not differ between two pixel answers (date and connection handling aside). */
function stableHeaders(res: LightMyRequestResponse): Record<string, unknown> {
  const { date: _date, connection: _connection, 'keep-alive': _keepAlive, ...rest } = res.headers;
  return rest;
}

async function trackingEvents<T>(type: string, messageId: string): Promise<Array<{ subject: string; msgId: string | undefined; event: T }>> {
  return (await h.events('TRACKING'))
    .filter((e) => e.event.type === type && e.event.messageId === messageId)
    .map((e) => ({ subject: e.subject, msgId: e.msgId, event: e.event as T }));
}

/**
 * The opens of a message recorded in OpensRecorded events, each with the event that carried it;
 * an open in two batches (two flushes within its minute) counted once, as readers do.
 */
async function opensOf(messageId: string): Promise<Array<{ subject: string; msgId: string | undefined; event: OpensRecorded; open: RecordedOpen }>> {
  const seen = new Set<string>();
  return (await h.events('TRACKING')).flatMap((e) =>
    e.event.type === 'OpensRecorded'
      ? e.event.data.opens.filter((o) => o.messageId === messageId && !seen.has(o.id) && Boolean(seen.add(o.id))).map((open) => ({ subject: e.subject, msgId: e.msgId, event: e.event as OpensRecorded, open }))
      : [],
  );
}

describe('GET /track/open/:token', () => {
  it('answers the same pixel, bytes and headers, for a valid token and for anything else', async () => {
    const ref = ids();
    const valid = h.tokens.issue('open', ref);
    const others = [
      'not-a-token',
      tamper(valid),
      h.tokens.issue('click', { ...ref, url: 'https://example.com/' }),
      testTokenKeyring().issue('open', ref),
      'A'.repeat(600),
      'A'.repeat(9000),
      'bad%20chars!',
      'bad%zzescape',
    ];
    const first = await h.app.inject({ method: 'GET', url: `/track/open/${valid}`, headers: { 'user-agent': BROWSER } });
    expect(first.statusCode).toBe(200);
    expect(first.rawPayload.equals(PIXEL)).toBe(true);
    expect(PIXEL.length).toBe(43);
    expect(first.headers).toMatchObject({
      'content-type': 'image/gif',
      'content-length': '43',
      'cache-control': 'no-store, no-cache, must-revalidate, private',
      pragma: 'no-cache',
    });
    for (const token of [...others, '']) {
      const res = await h.app.inject({ method: 'GET', url: `/track/open/${token}`, headers: { 'user-agent': BROWSER } });
      expect(res.statusCode, token.slice(0, 20)).toBe(200);
      expect(res.rawPayload.equals(PIXEL)).toBe(true);
      expect(stableHeaders(res)).toEqual(stableHeaders(first));
    }
  });

  it('a valid open token records its open after the answer, classified by User-Agent, one event per account and flush; invalid ones record nothing', async () => {
    const human = ids();
    const proxied = ids();
    const sameAccount = { ...ids(), accountId: human.accountId };
    const tampered = ids();
    await h.app.inject({ method: 'GET', url: `/track/open/${h.tokens.issue('open', human)}`, headers: { 'user-agent': BROWSER } });
    await h.app.inject({ method: 'GET', url: `/track/open/${h.tokens.issue('open', proxied)}`, headers: { 'user-agent': GMAIL_PROXY } });
    await h.app.inject({ method: 'GET', url: `/track/open/${h.tokens.issue('open', sameAccount)}`, headers: { 'user-agent': BROWSER } });
    await h.app.inject({ method: 'GET', url: `/track/open/${tamper(h.tokens.issue('open', tampered))}` });
    // Opens go out in batches (every ~100 ms): wait for the three, then a flush longer for a stray fourth.
    await expect.poll(async () => (await Promise.all([human, proxied, sameAccount].map((r) => opensOf(r.messageId)))).flat().length).toBe(3);
    await new Promise((r) => setTimeout(r, 300));
    expect(await opensOf(tampered.messageId)).toEqual([]);

    const [opened] = await opensOf(human.messageId);
    expect(opened!.subject).toBe(h.env.bus.subjects.tracking(human.accountId, 'opened'));
    expect(opened!.msgId).toBe(opened!.event.id);
    expect(opened!.event.accountId).toBe(human.accountId);
    expect(opened!.open).toMatchObject({ messageId: human.messageId, source: 'human' });
    expect(opened!.open.id).toMatch(new RegExp(`^${human.messageId}\\.opened\\.human\\.\\d{12}$`));
    // Both opens of the account went out in one event, whose id derives from theirs.
    expect(opened!.event.data.opens.map((o) => o.messageId)).toEqual([human.messageId, sameAccount.messageId]);
    expect(opened!.event.id).toBe(opensRecordedEventId(opened!.event.data.opens.map((o) => o.id)));
    const [viaProxy] = await opensOf(proxied.messageId);
    expect(viaProxy!.open.source).toBe('proxy');
    expect(viaProxy!.event.accountId).toBe(proxied.accountId);
  });

  it('opens in one minute are one fact, in another minute a second; HEAD records nothing', async () => {
    const ref = ids();
    const token = h.tokens.issue('open', ref);
    let now = new Date('2031-01-02T03:04:05.000Z');
    const app = await h.variant({ clock: () => now });
    const headOnly = ids();
    const head = await app.inject({ method: 'HEAD', url: `/track/open/${h.tokens.issue('open', headOnly)}`, headers: { 'user-agent': BROWSER } });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-type']).toBe('image/gif');
    for (let i = 0; i < 3; i++) await app.inject({ method: 'GET', url: `/track/open/${token}`, headers: { 'user-agent': BROWSER } });
    now = new Date('2031-01-02T03:05:00.000Z');
    await app.inject({ method: 'GET', url: `/track/open/${token}`, headers: { 'user-agent': BROWSER } });
    await expect.poll(async () => (await opensOf(ref.messageId)).length).toBe(2);
    const stamps = (await opensOf(ref.messageId)).map((e) => e.open.id.split('.').pop());
    expect(stamps).toEqual(['203101020304', '203101020305']);
    expect(await opensOf(headOnly.messageId)).toEqual([]);
  });
});

describe('the open pixel over a real connection (answered in front of fastify)', () => {
  /** A request over HTTP: the fast path sees only these (app.inject goes straight to fastify). */
  async function get(base: string, path: string, method = 'GET', userAgent = BROWSER): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const res = await fetch(`${base}${path}`, { method, headers: { 'user-agent': userAgent } });
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      if (!['date', 'connection', 'keep-alive'].includes(k)) headers[k] = v;
    });
    return { status: res.status, headers, body: Buffer.from(await res.arrayBuffer()) };
  }

  async function listening(overrides: Parameters<Harness['variant']>[0] = {}): Promise<string> {
    const app = await h.variant(overrides);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    return `http://127.0.0.1:${port}`;
  }

  it('answers the same bytes and headers as the fastify route, records GETs (a query string ignored) and not HEADs; odd tokens still get the pixel and record nothing', async () => {
    const base = await listening();
    const viaFastify = await h.app.inject({ method: 'GET', url: `/track/open/${h.tokens.issue('open', ids())}`, headers: { 'user-agent': BROWSER } });
    const plain = ids();
    const withQuery = ids();
    const headOnly = ids();
    const tampered = ids();
    const answers = [
      await get(base, `/track/open/${h.tokens.issue('open', plain)}`),
      await get(base, `/track/open/${h.tokens.issue('open', withQuery)}?utm=x&y=%20`),
      await get(base, `/track/open/${h.tokens.issue('open', headOnly)}`, 'HEAD'),
      // These go through fastify (too long, not base64url, a bad escape) or fail to open.
      await get(base, `/track/open/${'A'.repeat(600)}`),
      await get(base, '/track/open/bad%20chars!'),
      await get(base, '/track/open/bad%zzescape'),
      await get(base, `/track/open/${tamper(h.tokens.issue('open', tampered))}`),
      await get(base, `/track/open/${h.tokens.issue('click', { ...ids(), url: 'https://example.com/' })}`),
    ];
    for (const [i, a] of answers.entries()) {
      expect(a.status, String(i)).toBe(200);
      expect(a.headers, String(i)).toEqual(stableHeaders(viaFastify));
      expect(a.body.equals(i === 2 ? Buffer.alloc(0) : PIXEL), String(i)).toBe(true);
    }
    await expect.poll(async () => (await Promise.all([plain, withQuery].map((r) => opensOf(r.messageId)))).flat().length).toBe(2);
    const [opened] = await opensOf(plain.messageId);
    expect(opened!.open).toMatchObject({ messageId: plain.messageId, source: 'human' });
    expect(opened!.event.accountId).toBe(plain.accountId);
    await new Promise((r) => setTimeout(r, 300));
    expect(await opensOf(headOnly.messageId)).toEqual([]);
    expect(await opensOf(tampered.messageId)).toEqual([]);
  });

  it('a client over its rate gets the 429 of the fastify hook, charged once, and nothing is recorded', async () => {
    const base = await listening({ rateLimit: { perSecond: 0.01, burst: 2 } });
    const refs = [ids(), ids(), ids()];
    const answers = [];
    for (const r of refs) answers.push(await get(base, `/track/open/${h.tokens.issue('open', r)}`));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 429]);
    expect(answers[2]!.headers['retry-after']).toMatch(/^\d+$/);
    expect(answers[2]!.headers['content-type']).toMatch(/^text\/html/);
    await expect.poll(async () => (await Promise.all(refs.slice(0, 2).map((r) => opensOf(r.messageId)))).flat().length).toBe(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(await opensOf(refs[2]!.messageId)).toEqual([]);
  });
});

describe('GET /track/click/:token', () => {
  it('flags as a scanner a browser-like click within seconds of sending, or on every link at once; a later click is a person’s', async () => {
    let now = new Date('2031-01-02T03:04:05.000Z');
    const app = await h.variant({ clock: () => now });
    const browser = { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36' };
    const issuedAt = now.getTime() / 1000 - 3;
    const soon = ids();
    await app.inject({ method: 'GET', url: `/track/click/${h.tokens.issue('click', { ...soon, url: 'https://a.example/1', issuedAt })}`, headers: browser });
    const later = ids();
    now = new Date('2031-01-02T04:00:00.000Z');
    await app.inject({ method: 'GET', url: `/track/click/${h.tokens.issue('click', { ...later, url: 'https://a.example/1', issuedAt })}`, headers: browser });
    now = new Date('2031-01-02T04:00:00.500Z');
    await app.inject({ method: 'GET', url: `/track/click/${h.tokens.issue('click', { ...later, url: 'https://a.example/2', issuedAt })}`, headers: browser });
    await expect.poll(async () => (await trackingEvents('LinkClicked', later.messageId)).length).toBe(2);
    await expect.poll(async () => (await trackingEvents('LinkClicked', soon.messageId)).length).toBe(1);
    expect((await trackingEvents<LinkClicked>('LinkClicked', soon.messageId)).map((e) => e.event.data.source)).toEqual(['scanner']);
    expect((await trackingEvents<LinkClicked>('LinkClicked', later.messageId)).map((e) => [e.event.data.url, e.event.data.source])).toEqual([
      ['https://a.example/1', 'human'],
      ['https://a.example/2', 'scanner'],
    ]);
  });

  it('redirects to the URL inside the token and records LinkClicked', async () => {
    const ref = ids();
    const url = 'https://shop.example.com/spring?utm_source=mail&x=%22a%22';
    const res = await h.app.inject({ method: 'GET', url: `/track/click/${h.tokens.issue('click', { ...ref, url })}`, headers: { 'user-agent': 'curl/8.5.0' } });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe(url);
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['cache-control']).toBe('no-store, private');
    await expect.poll(async () => (await trackingEvents('LinkClicked', ref.messageId)).length).toBe(1);
    const [clicked] = await trackingEvents<LinkClicked>('LinkClicked', ref.messageId);
    expect(clicked!.subject).toBe(h.env.bus.subjects.tracking(ref.accountId, 'clicked'));
    expect(clicked!.event).toMatchObject({ accountId: ref.accountId, messageId: ref.messageId, data: { url, source: 'scanner' } });
    // Published in the background, then its outbox row deleted.
    await expect.poll(async () => (await h.env.db.query(sql`SELECT 1 FROM tracking_outbox WHERE event_id = ${clicked!.event.id}`)).length).toBe(0);
  });

  it('a tampered, unknown-key or wrong-kind token is a plain 404 page: no redirect, no detail, nothing recorded', async () => {
    const ref = ids();
    const click = h.tokens.issue('click', { ...ref, url: 'https://example.com/' });
    const bad = [
      tamper(click),
      testTokenKeyring().issue('click', { ...ref, url: 'https://evil.example/' }),
      h.tokens.issue('open', ref),
      h.tokens.issue('unsub', { ...ref, address: recipient() }),
      'x',
      'A'.repeat(7000),
    ];
    const bodies = new Set<string>();
    for (const token of bad) {
      const res = await h.app.inject({ method: 'GET', url: `/track/click/${token}` });
      expect(res.statusCode).toBe(404);
      expect(res.headers.location).toBeUndefined();
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      bodies.add(res.body);
    }
    expect(bodies.size).toBe(1);
    expect([...bodies][0]).not.toMatch(/token|invalid|expired|key/i);
    await new Promise((r) => setTimeout(r, 200));
    expect(await trackingEvents('LinkClicked', ref.messageId)).toEqual([]);
  });

  it('redirects even when the event log refuses the publish', async () => {
    const bare = await connectBus({ servers: [sharedNatsUrl()], name: 'tracking-test-bare', namespace: testNamespace() });
    try {
      const app = await h.variant({ bus: bare, publishTimeoutMs: 500 });
      const url = 'https://example.com/still-works';
      const ref = ids();
      const res = await app.inject({ method: 'GET', url: `/track/click/${h.tokens.issue('click', { ...ref, url })}` });
      expect(res.statusCode).toBe(302);
      expect(res.headers.location).toBe(url);
      const pixel = await app.inject({ method: 'GET', url: `/track/open/${h.tokens.issue('open', ids())}` });
      expect(pixel.rawPayload.equals(PIXEL)).toBe(true);
      await app.close();

      // The click was durable before the redirect: its row waits in the outbox, and the reconciler appends it.
      const rows = await h.env.db.query(sql`SELECT event_id FROM tracking_outbox WHERE event_id LIKE ${`${ref.messageId}.clicked.%`}`);
      expect(rows).toHaveLength(1);
      expect(await trackingEvents('LinkClicked', ref.messageId)).toEqual([]);
      const result = await reconcileOnce({ bus: h.env.bus, db: h.env.db, log: h.deps.log }, { minAgeMs: 0 });
      expect(result).toMatchObject({ failed: 0, unreadable: 0 });
      const [clicked] = await trackingEvents<LinkClicked>('LinkClicked', ref.messageId);
      expect(clicked!.event).toMatchObject({ id: rows[0]!.event_id, data: { url } });
      expect(clicked!.subject).toBe(h.env.bus.subjects.tracking(ref.accountId, 'clicked'));
      expect(await h.env.db.query(sql`SELECT event_id FROM tracking_outbox WHERE event_id = ${rows[0]!.event_id}`)).toEqual([]);
    } finally {
      await bare.close();
    }
  });
});

describe('opens in batches', () => {
  it('closing the app (SIGTERM) flushes the opens still buffered', async () => {
    const app = await h.variant({ openBatch: { flushIntervalMs: 60_000, maxBatch: 10_000 } });
    const refs = Array.from({ length: 20 }, () => ids());
    for (const ref of refs) await app.inject({ method: 'GET', url: `/track/open/${h.tokens.issue('open', ref)}`, headers: { 'user-agent': BROWSER } });
    await new Promise((r) => setTimeout(r, 200));
    expect(await opensOf(refs[0]!.messageId)).toEqual([]);
    await app.close();
    for (const ref of refs) expect(await opensOf(ref.messageId)).toHaveLength(1);
  });

  it('one account’s opens go out as events of at most MAX_OPENS_PER_EVENT, an open repeated within the flush once', async () => {
    const now = new Date('2031-01-02T03:04:05.000Z'); // one minute: the repeat is the same open
    const app = await h.variant({ clock: () => now, openBatch: { flushIntervalMs: 60_000, maxBatch: 10_000 }, rateLimit: { perSecond: 1e6, burst: 1e6 } });
    const accountId = ids().accountId;
    const refs = Array.from({ length: MAX_OPENS_PER_EVENT + 20 }, () => ({ ...ids(), accountId }));
    for (const ref of [...refs, refs[0]!]) await app.inject({ method: 'GET', url: `/track/open/${h.tokens.issue('open', ref)}`, headers: { 'user-agent': BROWSER } });
    await app.close();
    const events = (await h.events('TRACKING')).filter((e) => e.event.type === 'OpensRecorded' && e.event.accountId === accountId);
    expect(events.map((e) => (e.event as OpensRecorded).data.opens.length)).toEqual([MAX_OPENS_PER_EVENT, 20]);
    expect(events.flatMap((e) => (e.event as OpensRecorded).data.opens.map((o) => o.messageId))).toEqual(refs.map((r) => r.messageId));
  });

  it('a full batch goes out at once, without waiting for the interval', async () => {
    const app = await h.variant({ openBatch: { flushIntervalMs: 60_000, maxBatch: 5 } });
    const refs = Array.from({ length: 5 }, () => ids());
    for (const ref of refs) await app.inject({ method: 'GET', url: `/track/open/${h.tokens.issue('open', ref)}`, headers: { 'user-agent': BROWSER } });
    await expect.poll(async () => (await Promise.all(refs.map((r) => opensOf(r.messageId)))).flat().length).toBe(5);
  });
});

describe('the open worker (opens decoded and published off the main thread)', () => {
  it('without it (no natsServers), opens are recorded on the main thread alike', async () => {
    const app = await h.variant({ natsServers: undefined });
    const ref = ids();
    const tampered = ids();
    expect((await app.inject({ method: 'GET', url: `/track/open/${h.tokens.issue('open', ref)}`, headers: { 'user-agent': GMAIL_PROXY } })).statusCode).toBe(200);
    await app.inject({ method: 'GET', url: `/track/open/${tamper(h.tokens.issue('open', tampered))}` });
    await expect.poll(async () => (await opensOf(ref.messageId)).length).toBe(1);
    expect((await opensOf(ref.messageId))[0]!.open.source).toBe('proxy');
    expect(await opensOf(tampered.messageId)).toEqual([]);
  });

  it('its log lines reach the service’s logger: a publish JetStream refuses is logged, without the opens’ ids', async () => {
    const lines: string[] = [];
    const log = createLogger({ service: 'tracking', level: 'info', destination: { write: (line: string) => void lines.push(line) } });
    // Connected, but its namespace has no streams: the worker's publishes are refused.
    const bare = await connectBus({ servers: [sharedNatsUrl()], name: 'tracking-test-no-streams', namespace: testNamespace() });
    try {
      const app = await h.variant({ bus: bare, log, publishTimeoutMs: 300, openBatch: { flushIntervalMs: 10 } });
      const ref = ids();
      await app.inject({ method: 'GET', url: `/track/open/${h.tokens.issue('open', ref)}`, headers: { 'user-agent': BROWSER } });
      await expect.poll(() => lines.map((l) => JSON.parse(l) as { msg: string; thread?: string; opens?: number }).find((l) => l.msg === 'opens not recorded'), { timeout: 10_000 }).toMatchObject({ thread: 'opens', opens: 1 });
      expect(lines.join('\n')).not.toContain(ref.messageId);
      await app.close();
    } finally {
      await bare.close();
    }
  });

  it('a worker that fails is replaced: the opens it held are logged as lost, later ones are recorded', async () => {
    const marker = path.join(os.tmpdir(), `postbus-open-worker-crash-${newId('req')}`);
    process.env.POSTBUS_TEST_CRASH_MARKER = marker;
    const lines: Array<{ msg: string; lost?: number }> = [];
    const log = createLogger({ service: 'tracking', level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) } });
    const opens = await OpenWorker.start({
      servers: [sharedNatsUrl()],
      namespace: h.env.ns,
      tokens: h.tokens,
      recorder: { publishTimeoutMs: 3_000, flushIntervalMs: 10, maxBatch: 500, maxPending: 1_000 },
      log,
      restartDelayMs: 300,
      threadFile: new URL('../test/crashing-open-worker.mjs', import.meta.url),
    });
    try {
      const lost = ids();
      opens.record(h.tokens.issue('open', lost), BROWSER, Date.now());
      await expect.poll(() => lines.find((l) => l.msg === 'open worker stopped; opens it held are lost'), { timeout: 5_000 }).toMatchObject({ lost: 1 });
      // Taken while no worker runs: it waits for the next one.
      const kept = ids();
      opens.record(h.tokens.issue('open', kept), BROWSER, Date.now());
      await expect.poll(async () => (await opensOf(kept.messageId)).length, { timeout: 10_000 }).toBe(1);
      expect(await opensOf(lost.messageId)).toEqual([]);
    } finally {
      await opens.close();
      rmSync(marker, { force: true });
      delete process.env.POSTBUS_TEST_CRASH_MARKER;
    }
  });

  it('a worker that cannot reach NATS fails the start with a clear error', async () => {
    await expect(h.variant({ natsServers: ['nats://127.0.0.1:1'] })).rejects.toThrow(/open worker stopped .* before it was connected/);
  });
});

describe('logs', () => {
  it('carry no token, address, IP or User-Agent, even at debug level', async () => {
    const lines: string[] = [];
    const log = createLogger({ service: 'tracking', level: 'debug', destination: { write: (line: string) => void lines.push(line) } });
    const app = await h.variant({ log });
    const address = recipient('logcheck');
    const ref = ids();
    const userAgent = `LogCheckAgent/${newId('req')}`;
    const tokens = [
      h.tokens.issue('open', ref),
      h.tokens.issue('click', { ...ref, url: 'https://example.com/log-check' }),
      h.tokens.issue('unsub', { ...ref, address }),
    ];
    const headers = { 'user-agent': userAgent, 'x-forwarded-for': '203.0.113.9' };
    await app.inject({ method: 'GET', url: `/track/open/${tokens[0]}`, headers, remoteAddress: '198.51.100.7' });
    await app.inject({ method: 'GET', url: `/track/click/${tokens[1]}`, headers, remoteAddress: '198.51.100.7' });
    await app.inject({ method: 'GET', url: `/track/click/${tamper(tokens[1]!)}`, headers, remoteAddress: '198.51.100.7' });
    await app.inject({ method: 'GET', url: `/unsubscribe/${tokens[2]}`, headers, remoteAddress: '198.51.100.7' });
    await app.inject({ method: 'POST', url: `/unsubscribe/${tokens[2]}`, headers, remoteAddress: '198.51.100.7', payload: 'List-Unsubscribe=One-Click' });
    await app.close();
    const text = lines.join('');
    expect(lines.length).toBeGreaterThan(4);
    for (const secret of [...tokens, tamper(tokens[1]!), address, userAgent, '203.0.113.9', '198.51.100.7', 'log-check']) {
      expect(text).not.toContain(secret);
    }
  });
});
