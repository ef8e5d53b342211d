import { Writable } from 'node:stream';
import { sql } from '@postbus/db';
import { createLogger } from '@postbus/telemetry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthService } from './auth/login.js';
import { hotp, totpStep } from './auth/totp.js';
import { ADMIN_PASSWORD, ADMIN_USER, startHarness, validAccount, type Harness } from '../test/harness.js';

/** Refresh rotation and reuse, lockout, TOTP, user management and the audit log; no secret in any answer or log line. */
const lines: string[] = [];
const bodies: string[] = [];
let h: Harness;
let admin: { authorization: string };

beforeAll(async () => {
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  h = await startHarness({ log: createLogger({ service: 'admin', level: 'debug', destination }) });
  admin = await h.authHeader();
});
afterAll(async () => {
  await h?.close();
});

async function inject(opts: Parameters<Harness['app']['inject']>[0] & object) {
  const res = await h.app.inject(opts);
  bodies.push(res.body);
  return res;
}
const login = (username: string, password: string, totp?: string) =>
  inject({ method: 'POST', url: '/v1/auth/login', payload: { username, password, ...(totp ? { totp } : {}) } });
const refresh = (refreshToken: string) => inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } });
const passwords = new Map<string, string>();
const reLogin = async () => ({ authorization: `Bearer ${(await login(ADMIN_USER, ADMIN_PASSWORD)).json<{ accessToken: string }>().accessToken}` });

async function createUser(username: string, role: 'viewer' | 'operator' | 'admin') {
  const password = `pw-${username}-Secret-${Math.random().toString(36).slice(2)}`;
  passwords.set(username, password);
  const res = await inject({ method: 'POST', url: '/v1/users', headers: admin, payload: { username, password, role } });
  expect(res.statusCode, res.body).toBe(201);
  return { id: res.json<{ id: string }>().id, password };
}

async function auditActions(actor: string): Promise<string[]> {
  const res = await inject({ method: 'GET', url: `/v1/audit?actor=${encodeURIComponent(actor)}&limit=500`, headers: admin });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ entries: Array<{ action: string }> }>().entries.map((e) => e.action);
}

describe('refresh tokens', () => {
  it('rotate: each is good once; a spent one presented again revokes the whole family', async () => {
    const first = (await login(ADMIN_USER, ADMIN_PASSWORD)).json<{ refreshToken: string }>();
    const second = await refresh(first.refreshToken);
    expect(second.statusCode).toBe(200);
    const r2 = second.json<{ refreshToken: string; accessToken: string }>();
    expect(r2.refreshToken).not.toBe(first.refreshToken);
    expect((await inject({ method: 'GET', url: '/v1/accounts', headers: { authorization: `Bearer ${r2.accessToken}` } })).statusCode).toBe(200);
    const r3 = (await refresh(r2.refreshToken)).json<{ refreshToken: string }>();

    const reused = await refresh(first.refreshToken);
    expect(reused.statusCode).toBe(401);
    expect(reused.json()).toMatchObject({ code: 'invalid_refresh_token' });
    // The thief's copy and the owner's latest token alike: the family is gone.
    expect((await refresh(r3.refreshToken)).statusCode).toBe(401);
    expect(await auditActions(ADMIN_USER)).toContain('refresh_reuse');
  });

  it('logout ends the family; an unknown token is refused', async () => {
    const s = (await login(ADMIN_USER, ADMIN_PASSWORD)).json<{ refreshToken: string; accessToken: string }>();
    const out = await inject({ method: 'POST', url: '/v1/auth/logout', headers: { authorization: `Bearer ${s.accessToken}` }, payload: { refreshToken: s.refreshToken } });
    expect(out.statusCode).toBe(204);
    expect((await refresh(s.refreshToken)).statusCode).toBe(401);
    expect((await refresh(`pbr_${'A'.repeat(43)}`)).statusCode).toBe(401);
  });
});

describe('lockout and rate limits', () => {
  it('5 failures lock a user for 15 minutes (across instances); a name that does not exist answers the same', async () => {
    const { id, password } = await createUser('locky', 'operator');
    for (let i = 0; i < 5; i++) expect((await login('locky', 'wrong password!')).json()).toMatchObject({ code: 'invalid_credentials' });
    const locked = await login('locky', password);
    expect(locked.statusCode).toBe(429);
    expect(locked.json()).toMatchObject({ code: 'too_many_attempts' });
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(800);
    // Another instance (no in-memory counts) still sees the lock in Postgres.
    const other = await h.variant({});
    expect((await other.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'locky', password } })).statusCode).toBe(429);
    expect(await auditActions('locky')).toContain('lockout');

    for (let i = 0; i < 5; i++) expect((await login('nobody-here', 'wrong password!')).statusCode).toBe(401);
    expect((await login('nobody-here', 'wrong password!')).json()).toMatchObject({ status: 429, code: 'too_many_attempts' });

    // An admin's password reset unlocks (on an instance without the in-memory count).
    const reset = await inject({ method: 'PATCH', url: `/v1/users/${id}`, headers: admin, payload: { password: 'a brand new password' } });
    expect(reset.statusCode, reset.body).toBe(200);
    expect((await other.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'locky', password: 'a brand new password' } })).statusCode).toBe(200);
  });

  it('a disabled user can neither log in nor refresh', async () => {
    const { id, password } = await createUser('leaver', 'viewer');
    const s = (await login('leaver', password)).json<{ refreshToken: string }>();
    expect((await inject({ method: 'PATCH', url: `/v1/users/${id}`, headers: admin, payload: { disabled: true } })).statusCode).toBe(200);
    expect((await login('leaver', password)).statusCode).toBe(401);
    expect((await refresh(s.refreshToken)).statusCode).toBe(401);
  });
});

describe('a change to a user ends its access tokens at once', () => {
  const get = (authorization: string, app = h.app) => app.inject({ method: 'GET', url: '/v1/accounts', headers: { authorization } });
  const patch = (id: string, payload: object) => inject({ method: 'PATCH', url: `/v1/users/${id}`, headers: admin, payload });
  const bearer = async (username: string, password: string) => `Bearer ${(await login(username, password)).json<{ accessToken: string }>().accessToken}`;

  it('a role change, disabling, a new password or a deletion: the outstanding token is a 401 on the next request', async () => {
    const { id, password } = await createUser('changing', 'operator');
    // Another instance without a cache sees the change as soon as it is committed.
    const other = await h.variant({ userCacheMs: 0 });
    let token = await bearer('changing', password);
    expect((await get(token)).statusCode).toBe(200);
    expect((await get(token, other)).statusCode).toBe(200);

    expect((await patch(id, { role: 'viewer' })).statusCode).toBe(200);
    expect((await get(token)).statusCode).toBe(401);
    expect((await get(token, other)).statusCode).toBe(401);
    token = await bearer('changing', password);
    expect((await inject({ method: 'GET', url: '/v1/auth/me', headers: { authorization: token } })).json()).toMatchObject({ role: 'viewer' });
    expect((await inject({ method: 'POST', url: '/v1/accounts', headers: { authorization: token }, payload: validAccount() })).statusCode).toBe(403);

    expect((await patch(id, { disabled: true })).statusCode).toBe(200);
    expect((await get(token)).statusCode).toBe(401);
    // Enabling again does not bring the old token back.
    expect((await patch(id, { disabled: false })).statusCode).toBe(200);
    expect((await get(token)).statusCode).toBe(401);

    token = await bearer('changing', password);
    expect((await get(token)).statusCode).toBe(200);
    expect((await patch(id, { password: 'the next password, long enough' })).statusCode).toBe(200);
    expect((await get(token)).statusCode).toBe(401);

    passwords.set('changing, again', 'the next password, long enough');
    token = await bearer('changing', 'the next password, long enough');
    expect((await get(token, other)).statusCode).toBe(200);
    const deleted = await inject({ method: 'DELETE', url: `/v1/users/${id}`, headers: admin });
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect((await get(token)).statusCode).toBe(401);
    expect((await get(token, other)).statusCode).toBe(401);
    expect((await login('changing', 'the next password, long enough')).statusCode).toBe(401);
    expect((await inject({ method: 'DELETE', url: `/v1/users/${id}`, headers: admin })).json()).toMatchObject({ status: 404, code: 'user_not_found' });
    const actions = await auditActions(ADMIN_USER);
    expect(actions).toContain('DELETE /v1/users/:id');
    expect(actions).toContain('PATCH /v1/users/:id');
  });

  it('a refresh after the change hands out a token of the new version only if the family survived', async () => {
    const { id, password } = await createUser('refreshing', 'operator');
    const s = (await login('refreshing', password)).json<{ refreshToken: string; accessToken: string }>();
    expect((await patch(id, { role: 'viewer' })).statusCode).toBe(200);
    expect((await refresh(s.refreshToken)).statusCode).toBe(401);
    expect((await get(`Bearer ${s.accessToken}`)).statusCode).toBe(401);
  });

  it('an admin cannot delete itself; a restart with the same password keeps the admin’s sessions', async () => {
    const me = (await inject({ method: 'GET', url: '/v1/auth/me', headers: admin })).json<{ id: string }>();
    expect((await inject({ method: 'DELETE', url: `/v1/users/${me.id}`, headers: admin })).json()).toMatchObject({ status: 409, code: 'cannot_delete_self' });
    // The bootstrap runs at another instance's start: an instance without a cache sees it at once
    // (this one within its cache period), and a token newer than its cache makes it read again.
    const other = await h.variant({ userCacheMs: 0 });
    await AuthService.bootstrap(h.db, ADMIN_USER, ADMIN_PASSWORD, new Date());
    expect((await get(admin.authorization, other)).statusCode).toBe(200);
    // A new configured password is a password change: the admin's tokens end.
    const token = await bearer(ADMIN_USER, ADMIN_PASSWORD);
    await AuthService.bootstrap(h.db, ADMIN_USER, `${ADMIN_PASSWORD}, changed`, new Date());
    expect((await get(token, other)).statusCode).toBe(401);
    await AuthService.bootstrap(h.db, ADMIN_USER, ADMIN_PASSWORD, new Date());
    admin = await reLogin();
    expect((await get(admin.authorization, other)).statusCode).toBe(200);
    expect((await get(admin.authorization)).statusCode).toBe(200);
  });
});

function base32Decode(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let acc = 0;
  const out: number[] = [];
  for (const c of text) {
    acc = (acc << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

describe('TOTP', () => {
  it('once enrolled and confirmed, a login needs a current code, each code good once', async () => {
    const { password } = await createUser('totpy', 'operator');
    const access = (await login('totpy', password)).json<{ accessToken: string }>().accessToken;
    const auth = { authorization: `Bearer ${access}` };
    const enrol = await inject({ method: 'POST', url: '/v1/auth/totp', headers: auth });
    expect(enrol.statusCode, enrol.body).toBe(201);
    const uri = enrol.json<{ otpauthUri: string }>().otpauthUri;
    const secret = base32Decode(new URL(uri).searchParams.get('secret')!);
    // Stored encrypted: the secret is in no table in plain.
    const [row] = await h.db.query(sql`SELECT s.ciphertext FROM admin_users u JOIN secrets s ON s.id = u.totp_secret_id WHERE u.username = 'totpy'`);
    expect(row?.ciphertext).not.toContain(secret.toString('base64'));

    expect((await login('totpy', password)).statusCode).toBe(200); // pending: not yet required
    expect((await inject({ method: 'POST', url: '/v1/auth/totp/confirm', headers: auth, payload: { code: '000000' === hotp(secret, totpStep(new Date())) ? '111111' : '000000' } })).statusCode).toBe(400);
    const step = totpStep(new Date());
    expect((await inject({ method: 'POST', url: '/v1/auth/totp/confirm', headers: auth, payload: { code: hotp(secret, step) } })).statusCode).toBe(200);

    expect((await login('totpy', password)).json()).toMatchObject({ status: 401, code: 'totp_required' });
    expect((await login('totpy', password, hotp(secret, step + 5))).json()).toMatchObject({ status: 401, code: 'invalid_credentials' });
    const next = hotp(secret, step + 1);
    expect((await login('totpy', password, next)).statusCode).toBe(200);
    expect((await login('totpy', password, next)).statusCode).toBe(401); // replayed
    expect((await inject({ method: 'POST', url: '/v1/auth/totp', headers: auth })).statusCode).toBe(409);
  });
});

describe('users and the audit log', () => {
  it('lists users without hashes; a duplicate name is a 409', async () => {
    const res = await inject({ method: 'GET', url: '/v1/users?limit=2', headers: admin });
    expect(res.statusCode).toBe(200);
    const page = res.json<{ users: Array<Record<string, unknown>>; next: string | null }>();
    expect(page.users.length).toBeLessThanOrEqual(2);
    for (const u of page.users) expect(Object.keys(u)).not.toContain('passwordHash');
    expect((await inject({ method: 'POST', url: '/v1/users', headers: admin, payload: { username: ADMIN_USER, password: 'whatever password', role: 'viewer' } })).statusCode).toBe(409);
  });

  it('records each change with its actor, route, target and status; pages by cursor', async () => {
    const { password } = await createUser('auditor-op', 'operator');
    const op = { authorization: `Bearer ${(await login('auditor-op', password)).json<{ accessToken: string }>().accessToken}` };
    const created = await inject({ method: 'POST', url: '/v1/accounts', headers: op, payload: validAccount({ name: 'Audited' }) });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json<{ id: string }>().id;
    expect((await inject({ method: 'POST', url: `/v1/accounts/${id}/pause`, headers: op, payload: { reason: 'audit test' } })).statusCode).toBe(200);

    const res = await inject({ method: 'GET', url: '/v1/audit?actor=auditor-op', headers: admin });
    const entries = res.json<{ entries: Array<Record<string, unknown>> }>().entries;
    expect(entries[0]).toMatchObject({ actor: 'auditor-op', actorRole: 'operator', action: 'POST /v1/accounts/:id/pause', target: { id }, status: 200, outcome: 'ok' });
    expect(entries[1]).toMatchObject({ action: expect.stringMatching(/^POST \/v1\/accounts\/?$/), status: 201, outcome: 'ok' });
    expect(entries.map((e) => e.action)).toContain('login');

    const p1 = (await inject({ method: 'GET', url: '/v1/audit?limit=1', headers: admin })).json<{ entries: Array<{ id: string }>; next: string }>();
    const p2 = (await inject({ method: 'GET', url: `/v1/audit?limit=1&after=${p1.next}`, headers: admin })).json<{ entries: Array<{ id: string }> }>();
    expect(Number(p2.entries[0]!.id)).toBeLessThan(Number(p1.entries[0]!.id));
    const future = new Date(Date.now() + 3600_000).toISOString();
    expect((await inject({ method: 'GET', url: `/v1/audit?from=${future}`, headers: admin })).json()).toEqual({ entries: [], next: null });
    expect((await inject({ method: 'GET', url: '/v1/audit?after=nonsense', headers: admin })).statusCode).toBe(400);
  });
});

describe('no secrets', () => {
  it('no password or hash in any answer, log line or audit row', async () => {
    const hashes = (await h.db.query(sql`SELECT password_hash FROM admin_users`)).map((r) => String(r.password_hash));
    const secrets = [ADMIN_PASSWORD, ...passwords.values(), 'a brand new password', 'wrong password!', ...hashes, ...hashes.map((x) => x.split('$').pop()!)];
    const audit = JSON.stringify(await h.db.query(sql`SELECT * FROM audit_log`));
    expect(lines.length).toBeGreaterThan(0);
    for (const s of secrets) {
      for (const text of [...bodies, ...lines, audit]) expect(text.includes(s), `found a secret in: ${text.slice(0, 200)}`).toBe(false);
    }
  });
});
