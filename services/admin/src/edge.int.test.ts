import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeCatalogue } from './http/security.js';
import { startHarness, validAccount, type Harness } from '../test/harness.js';

/**
 * The API's edge: security headers on every kind of answer, CORS closed, and cursor
 * pagination on every list (checked over the OpenAPI document, so a list added later without
 * it fails here).
 */
let h: Harness;
let auth: { authorization: string };
beforeAll(async () => {
  h = await startHarness();
  auth = await h.authHeader();
});
afterAll(async () => {
  await h?.close();
});

interface OpenApi {
  paths: Record<string, Record<string, { parameters?: Array<{ in: string; name: string }>; responses?: Record<string, { content?: Record<string, { schema?: { properties?: Record<string, { type?: string }> } }> }> }>>;
}

/** Lists that are not paged, and why. */
const UNPAGED: Record<string, string> = {
  '/v1/nodes': 'one entry per running sender node, read from a KV bucket whose keys expire',
  '/v1/messages/{id}': 'one message; its timeline is bounded by its attempts',
  '/v1/messages/{id}/events': 'one message’s request and delivery events (send_logs), bounded by its attempts; opens and clicks are not in it',
  '/v1/bounces/summary': 'an aggregate: one row per account',
  '/v1/stats/daily': 'an aggregate: one row per UTC day, at most 366 days a request',
};

describe('security headers and CORS', () => {
  it('every API answer, success or error, is nosniff, no-referrer, not framed, not cached, with a closed CSP', async () => {
    const answers = [
      await h.app.inject({ method: 'GET', url: '/v1/accounts', headers: auth }),
      await h.app.inject({ method: 'GET', url: '/v1/accounts' }),
      await h.app.inject({ method: 'GET', url: '/v1/nothing-here', headers: auth }),
      await h.app.inject({ method: 'POST', url: '/v1/accounts', headers: { ...auth, 'content-type': 'application/json' }, payload: '{bad' }),
      await h.app.inject({ method: 'GET', url: '/healthz' }),
    ];
    expect(answers.map((a) => a.statusCode)).toEqual([200, 401, 404, 400, 200]);
    for (const res of answers) {
      expect(res.headers).toMatchObject({
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'x-frame-options': 'DENY',
        'cache-control': 'no-store',
        'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
      });
    }
  });

  it('the /docs page has a CSP of its own: scripts from itself only, no framing', async () => {
    for (const url of ['/docs/', '/docs/json']) {
      const res = await h.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-eval');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    // The page itself has no inline script, so the policy does not break it.
    const page = (await h.app.inject({ method: 'GET', url: '/docs/' })).body;
    expect(page).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it('CORS is closed: no Access-Control header for any origin, on a request or a preflight', async () => {
    const origin = 'https://evil.example';
    const answers = [
      await h.app.inject({ method: 'GET', url: '/v1/accounts', headers: { ...auth, origin } }),
      await h.app.inject({ method: 'OPTIONS', url: '/v1/accounts', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' } }),
      await h.app.inject({ method: 'OPTIONS', url: '/v1/auth/login', headers: { origin, 'access-control-request-method': 'POST' } }),
      await h.app.inject({ method: 'POST', url: '/v1/auth/login', headers: { origin }, payload: { username: 'x', password: 'y' } }),
    ];
    for (const res of answers) {
      expect(Object.keys(res.headers).filter((k) => k.startsWith('access-control-'))).toEqual([]);
      expect(res.statusCode).not.toBe(204);
    }
  });
});

describe('the OpenAPI document', () => {
  it('lists every registered route (the fuzz run over HTTP takes its routes from it)', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json<OpenApi>();
    const documented = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{([^}]+)\}/g, ':$1')}`)));
    const registered = routeCatalogue(h.app).filter((r) => r.method !== 'HEAD' && !r.url.startsWith('/docs'));
    const missing = registered.map((r) => `${r.method} ${r.url}`).filter((k) => !documented.has(k) && !documented.has(`${k}/`) && !documented.has(k.replace(/\/$/, '')));
    expect(registered.length).toBeGreaterThan(50);
    expect(missing).toEqual([]);
  });
});

describe('cursor pagination on every list', () => {
  it('every GET that answers a list takes a cursor and answers `next`, but the named exceptions', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json<OpenApi>();
    const lacking: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      const get = ops.get;
      const props = get?.responses?.['200']?.content?.['application/json']?.schema?.properties ?? {};
      const isList = Object.values(props).some((p) => p.type === 'array');
      if (!get || !isList || path in UNPAGED) continue;
      // The cursor is `after`; the alerts, newest first, call it `before`.
      const takesAfter = (get.parameters ?? []).some((p) => p.in === 'query' && (p.name === 'after' || p.name === 'before'));
      if (!takesAfter || !('next' in props)) lacking.push(path);
    }
    expect(lacking).toEqual([]);
  });

  it('GET /v1/accounts pages through every account once, oldest first', async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/accounts', headers: auth, payload: validAccount({ name: `Paged ${i}` }) });
      expect(res.statusCode, res.body).toBe(201);
      created.push(res.json<{ id: string }>().id);
    }
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const url: string = `/v1/accounts?limit=2${after ? `&after=${after}` : ''}`;
      const res = await h.app.inject({ method: 'GET', url, headers: auth });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json<{ accounts: Array<{ id: string }>; next: string | null }>();
      expect(body.accounts.length).toBeLessThanOrEqual(2);
      seen.push(...body.accounts.map((a) => a.id));
      after = body.next;
      pages++;
    } while (after && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(created);
    // Without a limit: one page of up to 100.
    expect((await h.app.inject({ method: 'GET', url: '/v1/accounts', headers: auth })).json<{ next: string | null }>().next).toBeNull();
    for (const bad of ['after=nope', `after=${Buffer.from('2026-01-01T00:00:00.000Z|x').toString('base64url')}`, 'limit=0', 'limit=-1', 'limit=abc', 'other=1']) {
      const res = await h.app.inject({ method: 'GET', url: `/v1/accounts?${bad}`, headers: auth });
      expect(res.statusCode, bad).toBe(400);
    }
  });

  it('GET /v1/mailboxes pages by id', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/mailboxes', headers: auth, payload: { host: 'imap.example.com', port: 993, tls: 'implicit', username: `fbl${i}`, password: 'mailbox password' } });
      expect(res.statusCode, res.body).toBe(201);
      ids.push(res.json<{ id: string }>().id);
    }
    const first = (await h.app.inject({ method: 'GET', url: '/v1/mailboxes?limit=2', headers: auth })).json<{ mailboxes: Array<{ id: string }>; next: string | null }>();
    expect(first.mailboxes).toHaveLength(2);
    const second = (await h.app.inject({ method: 'GET', url: `/v1/mailboxes?limit=2&after=${first.next!}`, headers: auth })).json<{ mailboxes: Array<{ id: string }>; next: string | null }>();
    expect(second.next).toBeNull();
    expect([...first.mailboxes, ...second.mailboxes].map((m) => m.id)).toEqual([...ids].sort());
    expect((await h.app.inject({ method: 'GET', url: '/v1/mailboxes?after=nope', headers: auth })).statusCode).toBe(400);
  });
});

describe('text the database cannot hold', () => {
  it('a NUL or a lone surrogate in a path, a query or a body is a 400, never a 500 (found by the fuzz run)', async () => {
    const cases = [
      await h.app.inject({ method: 'GET', url: '/v1/users?after=%00', headers: auth }),
      await h.app.inject({ method: 'GET', url: '/v1/users?after=nul%00in%20the%20middle', headers: auth }),
      await h.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'ad\u0000min', password: 'x' } }),
      await h.app.inject({ method: 'POST', url: '/v1/accounts', headers: auth, payload: validAccount({ name: 'N\u0000UL' }) }),
      await h.app.inject({ method: 'GET', url: '/v1/suppressions?q=a%00@example.org', headers: auth }),
      await h.app.inject({ method: 'GET', url: '/v1/messages/msg_%00', headers: auth }),
      // A lone surrogate: Postgres json refuses `\ud800` (a campaign's 500 in the fuzz run).
      await h.app.inject({ method: 'POST', url: '/v1/campaigns', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"name":"c\\ud800","recipients":[]}' }),
      await h.app.inject({ method: 'POST', url: '/v1/suppressions', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"address":"a\\udc00@example.org"}' }),
    ];
    for (const res of cases) expect(res.json(), res.body).toMatchObject({ status: 400, code: 'invalid_request' });
    // Messages keep their own, more precise, answer: which message, which field.
    const msg = await h.app.inject({ method: 'POST', url: '/v1/messages', headers: auth, payload: { messages: [{ to: 'a@example.org', subject: 'Hi\u0000', text: 'x' }] } });
    expect(msg.statusCode).toBe(422);
    // A NUL in the text was accepted (202) and then never reached the ledger (jsonb cannot hold it): refused now, named.
    for (const over of [{ text: 'a\u0000b' }, { html: '<p>\u0000</p>' }, { text: 'x', replyTo: 'r\u0000@example.org' }, { text: 'lone \ud800' }, { subject: 'Hi \udfff', text: 'x' }]) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/messages', headers: auth, payload: { messages: [{ to: 'a@example.org', subject: 'Hi', ...over }] } });
      expect(res.statusCode, res.body).toBe(422);
      expect(JSON.stringify(res.json())).toMatch(/invalid_message|invalid_address/);
    }
  });
});
