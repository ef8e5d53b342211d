import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@postbus/db';
import { seededRandom, waitFor } from '@postbus/testing';
import { OPEN_STATES, registerAccount, startWorld, type World } from './fixtures.js';
import { Generator, enc, send, type Fuzzed, type Parameter, type Route, type Schema } from './fuzz.js';

/**
 * A seeded fuzz run over real HTTP against the running admin API (every route its OpenAPI
 * document lists, as an admin), the sponsor gateway and the tracking service: bad and deep JSON,
 * wrong types, huge bodies, CRLF and SQL strings, lone surrogates, NUL and RTL overrides, wrong
 * content types, odd methods and traversal in paths, written byte for byte on raw sockets (so
 * that nothing is cleaned up by an HTTP client). Each request comes from its own loopback address
 * (127.x.y.z), so that per-IP limits do not turn the run into a run of 429s. Then: no 5xx, every
 * request answered, every service still ready, and what was accepted before is all still there.
 */
const SEED = Number(process.env.POSTBUS_FUZZ_SEED ?? 20261129);
const REQUESTS = { admin: 20_000, gateway: 5_000, tracking: 5_000 };
const BUDGET_MS = 85_000;
const CONCURRENCY = 48;
/** The smallest body limit of each service's routes (admin: the small-body routes; gateway: a lead; tracking: an unsubscribe POST). */
const BODY_LIMITS = { admin: 64 * 1024, gateway: 16 * 1024, tracking: 64 * 1024 };

describe('fuzzing the admin API, the sponsor gateway and tracking over HTTP', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({
      users: ['fz'],
      services: ['admin', 'orchestrator', 'sender', 'projector', 'tracking', 'sponsor-gateway'],
      // One user sends every request: the admin's per-user limit would answer 429s to a fast machine.
      env: { POSTBUS_SPONSOR_CORS_ORIGINS: 'https://landing.example', POSTBUS_LOG_LEVEL: 'error', POSTBUS_ADMIN_RATE_PER_SECOND: '1000000', POSTBUS_ADMIN_RATE_BURST: '1000000' },
      keepOutputChunks: 5_000,
    });
    for (const url of [w.platform.trackingUrl, w.platform.sponsorGatewayUrl]) {
      await waitFor(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.ok === true, { timeoutMs: 20_000, message: `${url} did not start` });
    }
  }, 90_000);
  afterAll(async () => {
    await w?.close();
  });

  it('≥ 10,000 random and malformed requests: no 5xx, no crash, nothing accepted before lost', async () => {
    // --- What is accepted before the run.
    const accountId = await registerAccount(w, 'fz', 10_000, { sendDelayMs: 20 });
    const sponsor = await w.admin.request('POST', '/v1/sponsors', { name: 'Fuzz', endpointUrl: null });
    const sponsorId = sponsor.body.sponsor.id as string;
    const offer = await w.admin.request('POST', `/v1/sponsors/${sponsorId}/offers`, { name: 'Fuzz offer', landingUrl: 'https://landing.example/o' });
    const apiKey = (await w.admin.request('POST', `/v1/sponsors/${sponsorId}/keys`, { label: 'fuzz' })).body.apiKey as string;
    const tracked = await w.admin.request('POST', '/v1/messages', {
      messages: [{ to: 'tokens@receiver.test', subject: 'Tokens', text: 'x', html: `<p><a href="https://shop.example/">shop</a> <a href="https://landing.example/o?postbus_offer=${offer.body.id as string}">offer</a></p>` }],
    });
    expect(tracked.status).toBe(202);
    const [tx] = await w.sink.waitFor((t) => t.some((x) => x.rcptTo.includes('tokens@receiver.test')), 30_000);
    const raw = tx!.raw.toString('latin1').replace(/=\r\n/g, '');
    const tokenOf = (kind: string) => new RegExp(`/${kind}/([A-Za-z0-9_-]+)`).exec(raw)?.[1] ?? 'none';
    const tokens = { open: tokenOf('track/open'), click: tokenOf('track/click'), unsub: tokenOf('unsubscribe') };
    // In flight while the run goes on: these must all reach their outcome.
    const before = await w.admin.request('POST', '/v1/messages', { messages: Array.from({ length: 200 }, (_, i) => ({ to: `kept${i}@receiver.test`, subject: `Kept ${i}`, text: 'Kept.' })) });
    expect(before.status).toBe(202);
    const keptIds = (before.body.messages as Array<{ id: string }>).map((m) => m.id);
    // Found by an earlier run: a NUL in the text was accepted, then could never enter the ledger (jsonb), blocking its batch.
    const nul = await w.admin.request('POST', '/v1/messages', { messages: [{ to: 'nul@receiver.test', subject: 'NUL', text: 'a \u0000 b' }] });
    expect(nul.status).toBe(422);
    const snapshot = async () => ({
      accounts: (await w.admin.request('GET', '/v1/accounts')).body.accounts as Array<Record<string, unknown>>,
      sponsor: (await w.admin.request('GET', `/v1/sponsors/${sponsorId}`)).body as unknown,
      offers: (await w.admin.request('GET', `/v1/sponsors/${sponsorId}/offers`)).body as unknown,
      keys: (await w.admin.request('GET', `/v1/sponsors/${sponsorId}/keys`)).body.keys.map((k: Record<string, unknown>) => ({ ...k, lastUsedAt: null })) as unknown,
      messages: await w.db.query(sql`SELECT message_id, account_id, kind, subject FROM deliveries WHERE message_id = ANY(${keptIds}::text[]) ORDER BY message_id`),
    });
    // Accepted means in the log; the ledger has them a moment later: the snapshot waits for all of them.
    await waitFor(async () => (await w.db.query(sql`SELECT count(*)::int AS n FROM deliveries WHERE message_id = ANY(${keptIds}::text[])`))[0]!.n === keptIds.length, { timeoutMs: 30_000, message: 'kept messages not in the ledger' }).catch(async (err: Error) => {
      const n = (await w.db.query(sql`SELECT count(*)::int AS n FROM deliveries WHERE message_id = ANY(${keptIds}::text[])`))[0]!.n as number;
      throw new Error(`${err.message}: ${n} of ${keptIds.length}\n${w.platform.logs('orchestrator').slice(-3000)}`);
    });
    const was = await snapshot();
    expect(was.accounts.map((a) => a.id)).toEqual([accountId]);

    // --- The routes: the admin's from its own OpenAPI document (every route registered with a schema).
    const doc = (await w.admin.request('GET', '/docs/json')).body as { paths: Record<string, Record<string, { parameters?: Parameter[]; requestBody?: { content?: Record<string, { schema?: Schema }> } }>> };
    const adminRoutes: Route[] = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, body: op.requestBody?.content?.['application/json']?.schema, parameters: op.parameters ?? [] })),
    );
    expect(adminRoutes.length).toBeGreaterThan(60);
    const token = (await w.admin.request('POST', '/v1/auth/login', { username: 'admin', password: w.platform.adminPassword })).body.accessToken as string;
    const str: Schema = { type: 'string', maxLength: 300 };
    const lead: Schema = {
      type: 'object',
      required: ['email', 'consent'],
      properties: {
        offerId: { enum: [offer.body.id as string, 'ofr_01J0000000000000000000000A'] },
        email: { type: 'string', maxLength: 320 },
        name: str,
        phone: str,
        fields: { type: 'object', additionalProperties: str },
        consent: { type: 'object', required: ['text', 'time', 'source'], properties: { text: str, time: { type: 'string', format: 'date-time' }, source: str } },
      },
    };
    const gatewayRoutes: Route[] = [
      { method: 'GET', path: '/api/sponsors/offers' },
      { method: 'POST', path: '/api/sponsors/leads', body: lead },
      { method: 'POST', path: '/api/sponsors/leads', body: lead },
      { method: 'OPTIONS', path: '/api/sponsors/leads' },
      { method: 'GET', path: '/api/sponsors/{x}' },
      { method: 'GET', path: '/healthz' },
    ];
    const trackingRoutes: Route[] = [
      { method: 'GET', path: '/track/open/{token}' },
      { method: 'GET', path: '/track/click/{token}' },
      { method: 'GET', path: '/unsubscribe/{token}' },
      { method: 'POST', path: '/unsubscribe/{token}', body: { type: 'object', properties: { 'List-Unsubscribe': { enum: ['One-Click'] } } } },
      { method: 'GET', path: '/healthz' },
    ];

    const g = new Generator(seededRandom(SEED));
    const plan: Array<{ service: 'admin' | 'gateway' | 'tracking'; port: number; req: Fuzzed }> = [];
    for (let i = 0; i < REQUESTS.admin; i++) {
      const auth: Record<string, string> = g.chance(0.95) ? { authorization: `Bearer ${token}` } : g.chance(0.5) ? {} : { authorization: `Bearer ${g.text().slice(0, 100)}` };
      plan.push({ service: 'admin', port: w.platform.adminPort, req: g.request(g.pick(adminRoutes), auth) });
    }
    for (let i = 0; i < REQUESTS.gateway; i++) {
      const auth = g.pick<Record<string, string>>([{ authorization: `Bearer ${apiKey}` }, {}, { authorization: `Bearer pbsk_${g.text().slice(0, 60)}` }, { 'postbus-lead-token': g.text().slice(0, 300) }, { authorization: g.text().slice(0, 100) }]);
      plan.push({ service: 'gateway', port: w.platform.sponsorGatewayPort, req: g.request(g.pick(gatewayRoutes), auth) });
    }
    for (let i = 0; i < REQUESTS.tracking; i++) {
      const route = g.pick(trackingRoutes);
      const req = g.request(route, {});
      // Half the tokens are real ones, cut or changed: the paths to a valid token's checks get fuzzed too.
      const real = route.path.includes('open') ? tokens.open : route.path.includes('click') ? tokens.click : tokens.unsub;
      const mutated = g.pick([real.slice(0, g.int(real.length)), `${real}${g.text().slice(0, 5)}`, real.replace(/.(?=.{10}$)/, 'A'), real]);
      const target = g.chance(0.5) && route.path !== '/healthz' ? req.target.replace(/^(\/[a-z]+(?:\/[a-z]+)?\/)[^?]*/, `$1${enc(mutated)}`) : req.target;
      // A real unsubscribe token, posted, suppresses tokens@receiver.test: a legitimate request, not lost data.
      plan.push({ service: 'tracking', port: w.platform.trackingPort, req: { ...req, target } });
    }
    // Shuffled (seeded): the three services take their load at once.
    for (let i = plan.length - 1; i > 0; i--) {
      const j = g.int(i + 1);
      [plan[i], plan[j]] = [plan[j]!, plan[i]!];
    }

    // --- The run.
    const started = Date.now();
    const statuses: Record<string, Record<number, number>> = { admin: {}, gateway: {}, tracking: {} };
    const failures: string[] = [];
    let next = 0;
    let sent = 0;
    const worker = async () => {
      while (next < plan.length && Date.now() - started < BUDGET_MS) {
        const n = next++;
        const { service, port, req } = plan[n]!;
        const from = `127.${1 + (n % 250)}.${(n >> 8) & 255}.${1 + ((n * 7) % 250)}`;
        const res = await send(port, from, req);
        sent++;
        const line = `${service} #${n} ${req.method} ${req.target.slice(0, 120)} (${req.headers['content-type'] ?? 'no type'}, ${req.body.length} bytes)`;
        if (res.status === undefined) {
          // A body above the service's limit may be cut off with its 413 unread (EPIPE): that is a refusal, not a crash.
          if (!req.huge && req.body.length <= BODY_LIMITS[service]) failures.push(`${line}: ${res.error ?? 'no answer'}`);
          continue;
        }
        statuses[service]![res.status] = (statuses[service]![res.status] ?? 0) + 1;
        if (res.status >= 500) failures.push(`${line}: ${res.status}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const elapsedMs = Date.now() - started;
    console.log(`fuzz: ${sent} requests in ${elapsedMs} ms (seed ${SEED}); statuses ${JSON.stringify(statuses)}; ${failures.length} failures`);
    if (failures.length > 0) console.log(`${failures.slice(0, 40).join('\n')}\n--- admin\n${w.platform.logs('admin').slice(-4000)}\n--- gateway\n${w.platform.logs('sponsor-gateway').slice(-3000)}\n--- tracking\n${w.platform.logs('tracking').slice(-3000)}`);
    expect(failures.slice(0, 40)).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(10_000);
    expect(elapsedMs).toBeLessThan(90_000);

    // --- No crash: every process is alive and ready, and none logged an error (the run's own requests included: a poison request shows here).
    const errors = [...w.platform.services.keys()].flatMap((name) =>
      w.platform.logs(name).split('\n').filter((l) => /"level":(50|60)/.test(l) && !l.includes('"msg":"ALERT: ')).map((l) => `${name}: ${l.slice(0, 600)}`),
    );
    expect(errors.slice(0, 10)).toEqual([]);
    for (const [name, svc] of w.platform.services) expect(svc.process.exitCode, `${name} exited`).toBeNull();
    for (const url of [w.platform.adminUrl, w.platform.trackingUrl, w.platform.sponsorGatewayUrl]) expect((await fetch(`${url}/readyz`)).status, url).toBe(200);

    // --- Nothing accepted before lost: the same accounts, sponsor, offers, keys and messages, and every message reaches its outcome.
    const now = await snapshot();
    expect(now.accounts.filter((a) => a.id === accountId)).toEqual(was.accounts);
    expect({ ...now, accounts: was.accounts }).toEqual(was);
    await waitFor(
      async () => {
        const rows = await w.db.query(sql`SELECT state FROM deliveries WHERE message_id = ANY(${keptIds}::text[])`);
        return rows.length === keptIds.length && rows.every((r) => !OPEN_STATES.includes(r.state as string));
      },
      { timeoutMs: 60_000, message: 'messages requested before the run did not all reach an outcome' },
    );
    // Sent, or (invariant 4) `uncertain`: the SMTP sink runs in this process, which the run keeps busy,
    // so a DATA phase can time out after its final dot (seen once in a run of seeds).
    const states = await w.db.query(sql`SELECT state, count(*)::int AS n FROM deliveries WHERE message_id = ANY(${keptIds}::text[]) GROUP BY state`);
    for (const r of states) expect(['sent', 'uncertain']).toContain(r.state);
    expect(w.sink.duplicates()).toEqual([]);
  }, 240_000);
});
