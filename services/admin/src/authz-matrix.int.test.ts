import { randomBytes } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from './auth/roles.js';
import { routeCatalogue, type RouteAccess } from './http/security.js';
import { ADMIN_PASSWORD, ADMIN_USER, startHarness, type Harness } from '../test/harness.js';

/**
 * The authorisation matrix, over every route the admin app registered (so routes added
 * later are in it without touching this file): each non-public route refuses every kind of
 * bad credential with 401, a role it does not allow with 403, and lets the right role past
 * authorisation (the answer may still be 400 or 404 for the dummy body and ids used here).
 */
let h: Harness;
let routes: readonly RouteAccess[];
const tokens: Partial<Record<Role, string>> = {};
let refreshToken = '';
/** The admin's id and token version: the hand-made bad tokens name them, so each is refused for its own defect only. */
let admin = { sub: '', ver: 0 };

const PUBLIC = ['/healthz', '/readyz', '/metrics', '/v1/auth/login', '/v1/auth/refresh'];

async function login(username: string, password: string) {
  const res = await h.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username, password } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ accessToken: string; refreshToken: string }>();
}

beforeAll(async () => {
  h = await startHarness();
  routes = routeCatalogue(h.app);
  const adminSession = await login(ADMIN_USER, ADMIN_PASSWORD);
  tokens.admin = adminSession.accessToken;
  refreshToken = adminSession.refreshToken;
  admin = JSON.parse(Buffer.from(adminSession.accessToken.split('.')[1]!, 'base64url').toString()) as { sub: string; ver: number };
  for (const role of ['viewer', 'operator'] as const) {
    const password = `${role} password ${randomBytes(6).toString('hex')}`;
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: { authorization: `Bearer ${tokens.admin}` },
      payload: { username: `matrix-${role}`, password, role },
    });
    expect(res.statusCode, res.body).toBe(201);
    tokens[role] = (await login(`matrix-${role}`, password)).accessToken;
  }
});
afterAll(async () => {
  await h?.close();
});

/** A concrete URL for a route pattern: parameters and wildcards get a dummy value. */
const urlOf = (pattern: string) => pattern.replace(/:[A-Za-z0-9_]+/g, 'x').replace(/\*$/, 'x');
const READS = new Set(['GET', 'HEAD']);

function call(route: RouteAccess, authorization?: string) {
  const body = READS.has(route.method) ? undefined : {};
  return h.app.inject({
    method: route.method as 'GET',
    url: urlOf(route.url),
    headers: authorization ? { authorization } : {},
    ...(body ? { payload: body } : {}),
  });
}

const claims = () => ({ typ: 'access', role: 'admin', name: ADMIN_USER, ver: admin.ver });
const jwt = (secret: Uint8Array, build: (j: SignJWT) => SignJWT = (j) => j, payload: Record<string, unknown> = claims()) =>
  build(
    new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: 'default' }).setSubject(admin.sub).setIssuer('postbus').setAudience('postbus-admin').setIssuedAt().setExpirationTime('15m'),
  ).sign(secret);

async function badCredentials(): Promise<Record<string, string | undefined>> {
  const secret = h.deps.auth.jwtSecret;
  const past = Math.floor(Date.now() / 1000) - 3600;
  return {
    'no token': undefined,
    'expired token': `Bearer ${await jwt(secret, (j) => j.setIssuedAt(past - 900).setExpirationTime(past))}`,
    'wrong signature': `Bearer ${await jwt(randomBytes(32))}`,
    'alg none': `Bearer ${new UnsecuredJWT(claims()).setSubject(admin.sub).setIssuer('postbus').setAudience('postbus-admin').setIssuedAt().setExpirationTime('15m').encode()}`,
    'refresh token as access token': `Bearer ${refreshToken}`,
    'a token of another type': `Bearer ${await jwt(secret, (j) => j, { ...claims(), typ: 'refresh' })}`,
    'a token of another version than its user’s (the user changed since)': `Bearer ${await jwt(secret, (j) => j, { ...claims(), ver: admin.ver + 1 })}`,
    'a token of a user that does not exist': `Bearer ${await jwt(secret, (j) => j.setSubject('usr_00000000000000000000000000000000'))}`,
    'a token for another audience (a lead token)': `Bearer ${await jwt(secret, (j) => j.setAudience('postbus-sponsor'))}`,
    'an unknown key id': `Bearer ${await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: 'other' }).setSubject(admin.sub).setIssuer('postbus').setAudience('postbus-admin').setIssuedAt().setExpirationTime('15m').sign(secret)}`,
    'a sponsor API key': 'Bearer pbk_0123456789abcdef0123456789abcdef',
    'basic auth': `Basic ${Buffer.from(`${ADMIN_USER}:${ADMIN_PASSWORD}`).toString('base64')}`,
  };
}

describe('the authorisation matrix', () => {
  it('covers the routes of every feature, and the public allowlist is exactly the named routes', () => {
    const urls = new Set(routes.map((r) => r.url));
    for (const u of ['/v1/accounts/', '/v1/messages/', '/v1/suppressions/', '/v1/users/', '/v1/audit/', '/v1/config', '/v1/auth/logout']) expect(urls).toContain(u);
    const publicUrls = [...new Set(routes.filter((r) => r.access === 'public').map((r) => r.url))].filter((u) => !u.startsWith('/docs'));
    expect(publicUrls.sort()).toEqual([...PUBLIC].sort());
    // Every route has a decision that lets someone in, or it is public: nothing is left open by omission.
    for (const r of routes) expect(r.access === 'public' || r.access.length > 0, `${r.method} ${r.url}`).toBe(true);
  });

  it('the hand-made tokens differ from a good one by their defect only', async () => {
    const good = await jwt(h.deps.auth.jwtSecret);
    expect((await h.app.inject({ method: 'GET', url: '/v1/auth/me', headers: { authorization: `Bearer ${good}` } })).statusCode).toBe(200);
  });

  it('every non-public route: 401 for each bad credential', async () => {
    const bad = await badCredentials();
    const failures: string[] = [];
    for (const route of routes.filter((r) => r.access !== 'public')) {
      for (const [what, authorization] of Object.entries(bad)) {
        const res = await call(route, authorization);
        if (res.statusCode !== 401) failures.push(`${route.method} ${route.url} with ${what}: ${res.statusCode}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('every non-public route: each role gets 403 if the route does not allow it, and gets past authorisation if it does', async () => {
    const failures: string[] = [];
    for (const route of routes.filter((r) => r.access !== 'public')) {
      for (const role of ['viewer', 'operator', 'admin'] as const) {
        const res = await call(route, `Bearer ${tokens[role]}`);
        const allowed = route.access !== 'public' && route.access.includes(role);
        if (allowed && (res.statusCode === 401 || res.statusCode === 403)) failures.push(`${route.method} ${route.url} as ${role}: ${res.statusCode}, expected past auth`);
        if (!allowed && res.statusCode !== 403) failures.push(`${route.method} ${route.url} as ${role}: ${res.statusCode}, expected 403`);
        if (!allowed && route.method !== 'HEAD') expect(res.json()).toMatchObject({ code: 'forbidden', status: 403 });
      }
    }
    expect(failures).toEqual([]);
  });

  it('a viewer gets 403 on every write route', async () => {
    const writes = routes.filter((r) => r.access !== 'public' && !READS.has(r.method) && r.url !== '/v1/auth/logout' && !r.url.startsWith('/v1/auth/totp'));
    expect(writes.length).toBeGreaterThan(10);
    for (const route of writes) expect((await call(route, `Bearer ${tokens.viewer}`)).statusCode, `${route.method} ${route.url}`).toBe(403);
  });

  it('public routes answer without a token', async () => {
    for (const url of ['/healthz', '/readyz', '/docs/json']) expect((await h.app.inject({ method: 'GET', url })).statusCode).toBe(200);
  });

  it('a refused role is written to the audit log', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/v1/audit?actor=matrix-viewer&limit=500', headers: { authorization: `Bearer ${tokens.admin}` } });
    expect(res.statusCode).toBe(200);
    const entries = res.json<{ entries: Array<{ outcome: string; action: string }> }>().entries;
    expect(entries.some((e) => e.outcome === 'denied' && e.action.startsWith('POST '))).toBe(true);
  });
});
