import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '@postbus/testing';
import { registerAccount, startWorld, waitUntilSettled, type World } from './fixtures.js';

/** One sample of a Prometheus text exposition. */
interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const find = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

/** Quoted-printable soft breaks and escapes undone, enough to find URLs in a body. */
const unQp = (s: string) => s.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));

/**
 * Every service's /metrics, scraped as Prometheus would, before and after traffic: the send
 * counter, dispatch wait, queue depth, projection lag and tracking hits present and moving, no
 * address or message id in any label, and every /metrics behind POSTBUS_METRICS_TOKEN.
 */
describe('metrics', () => {
  const token = randomBytes(16).toString('hex');
  let w: World;
  let endpoints: Record<string, string>;

  beforeAll(async () => {
    const ports = { orchestrator: await freePort(), sender: await freePort(), projector: await freePort(), 'bounce-processor': await freePort() };
    w = await startWorld({
      users: ['ma'],
      services: ['admin', 'orchestrator', 'sender', 'projector', 'tracking', 'sponsor-gateway', 'bounce-processor'],
      env: {
        POSTBUS_METRICS_TOKEN: token,
        POSTBUS_ORCHESTRATOR_HEALTH_PORT: String(ports.orchestrator),
        POSTBUS_SENDER_HEALTH_PORT: String(ports.sender),
        POSTBUS_PROJECTOR_HEALTH_PORT: String(ports.projector),
        POSTBUS_BOUNCES_HEALTH_PORT: String(ports['bounce-processor']),
      },
    });
    endpoints = {
      admin: `${w.platform.adminUrl}/metrics`,
      tracking: `${w.platform.trackingUrl}/metrics`,
      'sponsor-gateway': `${w.platform.sponsorGatewayUrl}/metrics`,
      ...Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, `http://127.0.0.1:${port}/metrics`])),
    };
    for (const [name, url] of Object.entries(endpoints))
      await waitFor(async () => (await fetch(url, { headers: { authorization: `Bearer ${token}` } }).catch(() => undefined))?.ok === true, {
        timeoutMs: 30_000,
        message: `${name} /metrics did not answer:\n${w.platform.logs(name).slice(-2000)}`,
      });
  }, 90_000);
  afterAll(async () => {
    await w?.close();
  });

  const scrape = async (name: string): Promise<Sample[]> => {
    const res = await fetch(endpoints[name]!, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status, name).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseExposition(await res.text());
  };

  it('every /metrics needs the bearer token when POSTBUS_METRICS_TOKEN is set', async () => {
    for (const [name, url] of Object.entries(endpoints)) {
      expect((await fetch(url)).status, `${name} without a token`).toBe(401);
      expect((await fetch(url, { headers: { authorization: `Bearer ${token}x` } })).status, `${name} with a wrong token`).toBe(401);
      expect((await fetch(url, { headers: { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` } })).status, `${name} with basic auth`).toBe(401);
      const ok = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status, name).toBe(200);
      const text = await ok.text();
      // Default process metrics, event-loop lag among them, in every service.
      expect(text, name).toContain('nodejs_eventloop_lag_seconds');
      expect(text, name).toContain('process_cpu_seconds_total');
    }
  });

  it('sends, dispatch wait, queue depth, projection lag and tracking hits change under traffic; no address or message id in a label', async () => {
    const before = { sender: await scrape('sender'), orchestrator: await scrape('orchestrator') };
    const waitBefore = find(before.orchestrator, 'postbus_dispatch_wait_seconds_count')[0]?.value ?? 0;
    const accountId = await registerAccount(w, 'ma', 1_000);
    expect(find(before.sender, 'postbus_sends_total', { account: accountId })).toEqual([]);

    const COUNT = 5;
    const res = await w.admin.request('POST', '/v1/messages', {
      messages: Array.from({ length: COUNT }, (_, i) => ({ to: `metrics${i}@receiver.test`, subject: `Hello ${i}`, text: 'Read https://shop.example/sale now.', html: '<p>Read <a href="https://shop.example/sale">the sale</a> now.</p>' })),
    });
    expect(res.status).toBe(202);
    const messageIds = (res.body.messages as Array<{ id: string }>).map((m) => m.id);
    await waitUntilSettled(w, COUNT, 60_000);

    // The sender counts each outcome once its event is stored.
    await waitFor(async () => find(await scrape('sender'), 'postbus_sends_total', { account: accountId, outcome: 'sent' })[0]?.value === COUNT, {
      timeoutMs: 10_000,
      message: 'postbus_sends_total{outcome="sent"} did not reach the number sent',
    });
    const sender = await scrape('sender');
    expect(find(sender, 'postbus_sender_lease_changes_total', { change: 'acquired' })[0]?.value).toBeGreaterThanOrEqual(1);
    expect(find(sender, 'postbus_sender_placements_total', { change: 'started' })[0]?.value).toBeGreaterThanOrEqual(1);

    // Dispatch wait: one observation per message queued, each well under a minute here.
    const orchestrator = await scrape('orchestrator');
    const count = find(orchestrator, 'postbus_dispatch_wait_seconds_count')[0]!.value;
    expect(count - waitBefore).toBe(COUNT);
    expect(find(orchestrator, 'postbus_dispatch_wait_seconds_bucket', { le: '60' })[0]!.value).toBe(count);
    expect(find(orchestrator, 'postbus_epoch_changes_total')[0]!.value).toBeGreaterThanOrEqual(1);
    // Sampled by the leader (every 15 s): the new account shows, with nothing left open, and active.
    await waitFor(
      async () => {
        const s = await scrape('orchestrator');
        // MAIL holds at least the queueings (one EmailsQueued for the five) and the sends (one EmailsSent or more).
        return find(s, 'postbus_queue_depth', { account: accountId }).length === 1 && (find(s, 'postbus_stream_messages', { stream: 'MAIL' })[0]?.value ?? 0) >= 2;
      },
      { timeoutMs: 45_000, message: 'no sample after the traffic: queue depth for the account, MAIL messages' },
    );
    const sampled = await scrape('orchestrator');
    expect(find(sampled, 'postbus_queue_depth', { account: accountId })[0]!.value).toBe(0);
    expect(find(sampled, 'postbus_account_state', { account: accountId, state: 'active' })[0]!.value).toBe(1);
    expect(find(sampled, 'postbus_stream_messages', { stream: 'MAIL' })[0]!.value).toBeGreaterThanOrEqual(2);
    expect(find(sampled, 'postbus_stream_bytes', { stream: 'MAIL' })[0]!.value).toBeGreaterThan(0);
    expect(find(sampled, 'postbus_postgres_database_bytes')[0]!.value).toBeGreaterThan(0);

    // Projection lag: a series per projection and stream, never negative, and caught up once the projector has folded the log.
    await waitFor(
      async () => {
        const lag = find(await scrape('projector'), 'postbus_projection_lag_messages');
        return lag.length >= 3 && lag.every((s) => s.value === 0);
      },
      { timeoutMs: 30_000, message: 'projection lag did not settle at 0' },
    );
    const lag = find(await scrape('projector'), 'postbus_projection_lag_messages');
    expect(new Set(lag.map((s) => s.labels.projection)).size).toBeGreaterThanOrEqual(3);
    expect(lag.some((s) => s.labels.stream?.endsWith('MAIL'))).toBe(true);

    // A tracking hit: the open pixel of one sent message.
    const body = unQp(w.sink.transactions[0]!.raw.toString('latin1'));
    const pixel = /(http:\/\/127\.0\.0\.1:\d+\/track\/open\/[A-Za-z0-9_-]+)/.exec(body)?.[1];
    expect(pixel).toBeDefined();
    expect((await fetch(pixel!, { headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0' } })).status).toBe(200);
    // Counted once the open worker has opened the token (a few ms after the answer).
    const openHits = async () => find(await scrape('tracking'), 'postbus_tracking_hits_total', { kind: 'open' }).reduce((n, s) => n + s.value, 0);
    await waitFor(async () => (await openHits()) >= 1, { timeoutMs: 5_000, message: 'the open was not counted' });
    expect(await openHits()).toBe(1);

    // Labels are bounded: no address, no message id, anywhere.
    for (const name of Object.keys(endpoints)) {
      for (const s of await scrape(name)) {
        for (const v of Object.values(s.labels)) {
          expect(v, `${name} ${s.name}`).not.toContain('@');
          for (const id of messageIds) expect(v, `${name} ${s.name}`).not.toContain(id);
        }
      }
    }
  }, 150_000);
});
