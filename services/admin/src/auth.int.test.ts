import { randomBytes } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAdminUserByName } from '@postbus/db';
import { ADMIN_PASSWORD, ADMIN_USER, startHarness, type Harness } from '../test/harness.js';

let h: Harness;
/** The configured admin's id and token version: hand-made tokens name them, so only the defect under test refuses them. */
let adminId = '';
let adminVersion = 0;
beforeAll(async () => {
  h = await startHarness();
  const admin = (await findAdminUserByName(h.db, ADMIN_USER))!;
  adminId = admin.id;
  adminVersion = admin.tokenVersion;
});
afterAll(async () => {
  await h?.close();
});

const login = (username: string, password: string) =>
  h.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username, password } });
const listAccounts = (authorization?: string) =>
  h.app.inject({ method: 'GET', url: '/v1/accounts', headers: authorization ? { authorization } : {} });

function expectUnauthorized(res: Awaited<ReturnType<typeof listAccounts>>) {
  expect(res.statusCode).toBe(401);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.headers['www-authenticate']).toBe('Bearer realm="postbus"');
  expect(res.json()).toEqual({
    type: 'urn:postbus:problem:unauthorized',
    title: 'Authentication required',
    status: 401,
    code: 'unauthorized',
    detail: 'a valid bearer token is required',
  });
}

const signed = (secret: Uint8Array, build: (jwt: SignJWT) => SignJWT = (j) => j) =>
  build(
    new SignJWT({ typ: 'access', role: 'admin', name: ADMIN_USER, ver: adminVersion })
      .setProtectedHeader({ alg: 'HS256', kid: 'default' })
      .setSubject(adminId)
      .setIssuer('postbus')
      .setAudience('postbus-admin')
      .setIssuedAt()
      .setExpirationTime('15m'),
  ).sign(secret);

describe('login', () => {
  it('issues a 15-minute HS256 bearer token for the configured admin', async () => {
    const res = await login(ADMIN_USER, ADMIN_PASSWORD);
    expect(res.statusCode).toBe(200);
    const body = res.json<{ accessToken: string; tokenType: string; expiresIn: number; refreshToken: string }>();
    expect(body.tokenType).toBe('Bearer');
    expect(body.expiresIn).toBe(900);
    expect(body.refreshToken).toMatch(/^pbr_[A-Za-z0-9_-]{43}$/);
    const [header, payload] = body.accessToken.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()));
    expect(header).toMatchObject({ alg: 'HS256', kid: 'default' });
    expect(payload).toMatchObject({ sub: expect.stringMatching(/^usr_/), name: ADMIN_USER, role: 'admin', typ: 'access', iss: 'postbus', aud: 'postbus-admin' });
    expect(payload.exp - payload.iat).toBe(900);
    expect((await listAccounts(`Bearer ${body.accessToken}`)).statusCode).toBe(200);
  });

  it('refuses a wrong password or user alike', async () => {
    for (const res of [await login(ADMIN_USER, 'wrong password!!'), await login('someone', ADMIN_PASSWORD)]) {
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ code: 'invalid_credentials', status: 401 });
      expect(res.body).not.toContain('accessToken');
    }
  });

  it('validates the body', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: ADMIN_USER } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'invalid_request' });
  });
});

describe('bearer tokens', () => {
  it('401 without a token or with a malformed header', async () => {
    expectUnauthorized(await listAccounts());
    expectUnauthorized(await listAccounts('Basic YWRtaW46YWRtaW4='));
    expectUnauthorized(await listAccounts('Bearer not-a-jwt'));
  });

  it('401 for a token signed with another key', async () => {
    expectUnauthorized(await listAccounts(`Bearer ${await signed(randomBytes(32))}`));
  });

  it('401 for an unsigned (alg: none) token', async () => {
    const token = new UnsecuredJWT({ typ: 'access', role: 'admin', name: ADMIN_USER, ver: adminVersion }).setSubject(adminId).setIssuer('postbus').setAudience('postbus-admin').setIssuedAt().setExpirationTime('15m').encode();
    expectUnauthorized(await listAccounts(`Bearer ${token}`));
  });

  it('401 for an expired token, or one for another audience or issuer', async () => {
    const secret = h.deps.auth.jwtSecret;
    const past = Math.floor(Date.now() / 1000) - 3600;
    expectUnauthorized(await listAccounts(`Bearer ${await signed(secret, (j) => j.setIssuedAt(past - 900).setExpirationTime(past))}`));
    expectUnauthorized(await listAccounts(`Bearer ${await signed(secret, (j) => j.setAudience('postbus-sponsor'))}`));
    expectUnauthorized(await listAccounts(`Bearer ${await signed(secret, (j) => j.setIssuer('someone-else'))}`));
    // The same claims with the right key pass: the refusals above are about the claims.
    expect((await listAccounts(`Bearer ${await signed(secret)}`)).statusCode).toBe(200);
    // …for this user at its current token version only.
    expectUnauthorized(await listAccounts(`Bearer ${await signed(secret, (j) => j.setSubject('usr_00000000000000000000000000000000'))}`));
    expect((await listAccounts(`Bearer ${await signed(secret)}`)).statusCode).toBe(200);
  });

  it('tokens expire by the injected clock', async () => {
    let now = new Date();
    const app = await h.variant({ clock: () => now });
    const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: ADMIN_USER, password: ADMIN_PASSWORD } });
    const authorization = `Bearer ${res.json<{ accessToken: string }>().accessToken}`;
    expect((await app.inject({ method: 'GET', url: '/v1/accounts', headers: { authorization } })).statusCode).toBe(200);
    now = new Date(now.getTime() + 901_000);
    expect((await app.inject({ method: 'GET', url: '/v1/accounts', headers: { authorization } })).statusCode).toBe(401);
  });

  it('unknown routes are behind the login too, and 404 once logged in', async () => {
    expectUnauthorized(await h.app.inject({ method: 'GET', url: '/v1/nothing' }));
    const res = await h.app.inject({ method: 'GET', url: '/v1/nothing', headers: await h.authHeader() });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'not_found' });
  });
});

describe('public routes and headers', () => {
  it('health and readiness need no token', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await h.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
  });

  it('serves the OpenAPI document and the UI', async () => {
    const doc = await h.app.inject({ method: 'GET', url: '/docs/json' });
    expect(doc.statusCode).toBe(200);
    const spec = doc.json<{ openapi: string; paths: Record<string, unknown> }>();
    expect(spec.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining(['/v1/auth/login', '/v1/accounts/', '/v1/accounts/{id}', '/v1/messages/', '/v1/messages/{id}', '/healthz', '/readyz']),
    );
    const ui = await h.app.inject({ method: 'GET', url: '/docs/' });
    expect(ui.headers['content-type']).toMatch(/^text\/html/);
    expect(ui.statusCode).toBe(200);
  });

  it('sets security headers, no-store on the API, and no CORS', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/v1/accounts', headers: { ...(await h.authHeader()), origin: 'https://evil.example' } });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await h.app.inject({ method: 'OPTIONS', url: '/v1/accounts', headers: { origin: 'https://evil.example' } });
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('the general rate limit', () => {
  // Slow refills (one token per 100 s): the test does not race the clock; refilling is the RateLimiter's own test's.
  const limits = { userPerSecond: 0.01, userBurst: 3, ipPerSecond: 0.01, ipBurst: 2 };

  it('a bucket per user: beyond it 429 rate_limited with Retry-After; another user is not held back', async () => {
    const app = await h.variant({ rateLimit: limits });
    const login = async (username: string, password: string) => {
      const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username, password }, remoteAddress: `10.0.0.${Math.floor(Math.random() * 250) + 1}` });
      expect(res.statusCode, res.body).toBe(200);
      return { authorization: `Bearer ${res.json<{ accessToken: string }>().accessToken}` };
    };
    const admin = await login(ADMIN_USER, ADMIN_PASSWORD);
    const viewerPassword = 'viewer password for the rate limit';
    expect((await app.inject({ method: 'POST', url: '/v1/users', headers: admin, payload: { username: 'limited-viewer', password: viewerPassword, role: 'viewer' } })).statusCode).toBe(201);
    const viewer = await login('limited-viewer', viewerPassword);
    // The admin spent one token on POST /v1/users: two more pass, from any address.
    for (const remoteAddress of ['10.1.0.1', '10.1.0.2']) expect((await app.inject({ method: 'GET', url: '/v1/accounts', headers: admin, remoteAddress })).statusCode).toBe(200);
    const limited = await app.inject({ method: 'GET', url: '/v1/accounts', headers: admin, remoteAddress: '10.1.0.3' });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(90);
    expect(limited.json()).toMatchObject({ type: 'urn:postbus:problem:rate_limited', status: 429, code: 'rate_limited', title: 'Too many requests' });
    expect((await app.inject({ method: 'GET', url: '/v1/accounts', headers: viewer, remoteAddress: '10.1.0.3' })).statusCode).toBe(200);
    // Another instance keeps its own buckets (per process, like the login limits).
    expect((await h.app.inject({ method: 'GET', url: '/v1/accounts', headers: admin })).statusCode).toBe(200);
  });

  it('a bucket per address for requests without a valid token, public routes included', async () => {
    const app = await h.variant({ rateLimit: limits });
    const from = (remoteAddress: string, url = '/v1/accounts') => app.inject({ method: 'GET', url, remoteAddress });
    expect((await from('10.2.0.1')).statusCode).toBe(401);
    expect((await from('10.2.0.1', '/healthz')).statusCode).toBe(200);
    const limited = await from('10.2.0.1');
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ code: 'rate_limited' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const login = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: ADMIN_USER, password: ADMIN_PASSWORD }, remoteAddress: '10.2.0.1' });
    expect(login.statusCode).toBe(429);
    expect((await from('10.2.0.2')).statusCode).toBe(401);
  });

  it('the defaults leave room for bursts of work: 300 requests at once from one user all pass', async () => {
    const admin = await h.authHeader();
    const statuses = await Promise.all(Array.from({ length: 300 }, () => h.app.inject({ method: 'GET', url: '/v1/auth/me', headers: admin }).then((r) => r.statusCode)));
    expect(statuses.every((s) => s === 200)).toBe(true);
  });
});
