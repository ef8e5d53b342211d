import type { Bus } from '@postbus/bus';
import { decodeEvent, newId, type AccountEvent } from '@postbus/contracts';
import { getSecret, sql } from '@postbus/db';
import { createLogger } from '@postbus/telemetry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startHarness, validAccount, type Harness } from '../test/harness.js';

let h: Harness;
let auth: { authorization: string };
beforeAll(async () => {
  h = await startHarness();
  auth = await h.authHeader();
});
afterAll(async () => {
  await h?.close();
});

interface AccountBody {
  id: string;
  fromAddress: string;
  smtp: { secretId: string; user: string };
  settings: { dailyLimit: number; batchSize: number; sendDelayMs: number; postalAddress: string | null; fromName: string | null };
}

const create = (payload: unknown) => h.app.inject({ method: 'POST', url: '/v1/accounts', headers: auth, payload: payload as object });

describe('POST /v1/accounts', () => {
  it('registers the account: AccountRegistered in ACCOUNTS, password only encrypted in Postgres', async () => {
    const input = validAccount({ fromAddress: 'News@Bücher.example' });
    const res = await create(input);
    expect(res.statusCode).toBe(201);
    const account = res.json<AccountBody>();
    expect(res.body).not.toContain(input.smtp.password);
    expect(account.fromAddress).toBe('News@xn--bcher-kva.example');
    expect(account.settings).toEqual({ dailyLimit: 500, batchSize: 50, sendDelayMs: 0, postalAddress: input.postalAddress, fromName: 'Example News', warmup: null, dkim: null, verp: false });
    expect(account.smtp.secretId).toMatch(/^sec_/);

    const stored = await h.rawMessages('ACCOUNTS');
    const mine = stored.filter((m) => m.subject === h.bus.subjects.account(account.id));
    expect(mine).toHaveLength(1);
    const event = decodeEvent(mine[0]!.data) as AccountEvent;
    expect(event).toMatchObject({ type: 'AccountRegistered', accountId: account.id, data: { actor: 'admin', smtp: { secretId: account.smtp.secretId } } });
    for (const m of stored) {
      expect(Buffer.from(m.data).includes(input.smtp.password)).toBe(false);
      expect(Buffer.from(m.header).includes(input.smtp.password)).toBe(false);
    }

    const [row] = await h.db.query(sql`SELECT kind, key_id, ciphertext FROM secrets WHERE id = ${account.smtp.secretId}`);
    expect(row).toMatchObject({ kind: 'smtp_password', key_id: 'k1' });
    expect(row.ciphertext).not.toContain(input.smtp.password);
    expect(await getSecret(h.db, h.keyring, account.smtp.secretId)).toBe(input.smtp.password);
  });

  it.each([
    ['a bad from address', { fromAddress: 'not an address' }, 422, 'invalid_address'],
    ['a line break in the postal address', { postalAddress: '1 Street\r\nBcc: x@example.com' }, 422, 'header_injection'],
    ['a line break in the name', { fromName: 'News\nX-Evil: 1' }, 422, 'header_injection'],
    ['an unknown field', { provider: 'gmail' }, 400, 'invalid_request'],
    ['a bad TLS mode', { smtp: { ...validAccount().smtp, tls: 'maybe' } }, 400, 'invalid_request'],
    ['a string limit', { dailyLimit: '500' }, 400, 'invalid_request'],
  ])('refuses %s', async (_name, over, status, code) => {
    const before = await h.count('ACCOUNTS');
    const res = await create(validAccount(over));
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status, code });
    expect(res.body).not.toContain(validAccount().smtp.password);
    expect(await h.count('ACCOUNTS')).toBe(before);
  });
});

describe('reading and changing accounts', () => {
  let id: string;
  beforeAll(async () => {
    id = (await create(validAccount({ name: 'Second', postalAddress: undefined }))).json<AccountBody>().id;
  });

  it('lists and gets accounts right after registering them (read-your-writes)', async () => {
    const list = await h.app.inject({ method: 'GET', url: '/v1/accounts', headers: auth });
    expect(list.statusCode).toBe(200);
    const ids = list.json<{ accounts: AccountBody[] }>().accounts.map((a) => a.id);
    expect(ids).toContain(id);
    const one = await h.app.inject({ method: 'GET', url: `/v1/accounts/${id}`, headers: auth });
    expect(one.json<AccountBody>()).toMatchObject({ id, settings: { postalAddress: null } });
    expect(one.body).not.toContain('password');
  });

  it('404 for an unknown account, 400 for a malformed id', async () => {
    const missing = await h.app.inject({ method: 'GET', url: `/v1/accounts/${newId('acc')}`, headers: auth });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'account_not_found' });
    const bad = await h.app.inject({ method: 'GET', url: '/v1/accounts/nope', headers: auth });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'invalid_request' });
  });

  it('PATCH changes settings through the aggregate', async () => {
    const res = await h.app.inject({ method: 'PATCH', url: `/v1/accounts/${id}`, headers: auth, payload: { dailyLimit: 42, postalAddress: '2 Road, Town' } });
    expect(res.statusCode).toBe(200);
    expect(res.json<AccountBody>().settings).toMatchObject({ dailyLimit: 42, postalAddress: '2 Road, Town' });
    await h.directory.sync();
    expect(h.directory.get(id)?.settings.dailyLimit).toBe(42);
    const empty = await h.app.inject({ method: 'PATCH', url: `/v1/accounts/${id}`, headers: auth, payload: {} });
    expect(empty.statusCode).toBe(400);
    const unknown = await h.app.inject({ method: 'PATCH', url: `/v1/accounts/${newId('acc')}`, headers: auth, payload: { dailyLimit: 1 } });
    expect(unknown.statusCode).toBe(404);
  });

  it('PATCH answers 409 concurrent_change when another change lands between read and append', async () => {
    // A bus whose next publish first lets a competing change through, as another admin would.
    let compete: (() => Promise<unknown>) | undefined = () =>
      h.app.inject({ method: 'PATCH', url: `/v1/accounts/${id}`, headers: auth, payload: { batchSize: 7 } });
    // Publishes go out through the connection (packages/bus: AckedPublisher), so the race is staged there.
    const nc = new Proxy(h.bus.nc, {
      get(target, prop) {
        if (prop === 'publish') {
          return (...args: Parameters<Bus['nc']['publish']>) => {
            const c = compete;
            compete = undefined;
            if (!c) return target.publish(...args);
            void c().then(() => target.publish(...args));
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const racing = await h.variant({ bus: { ...h.bus, nc } });
    const res = await racing.inject({ method: 'PATCH', url: `/v1/accounts/${id}`, headers: auth, payload: { sendDelayMs: 1000 } });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'concurrent_change' });
    const now = await h.app.inject({ method: 'GET', url: `/v1/accounts/${id}`, headers: auth });
    expect(now.json<AccountBody>().settings).toMatchObject({ batchSize: 7, sendDelayMs: 0 });
  });
});

describe('logs', () => {
  it('never contain passwords or bearer tokens, even at trace level', async () => {
    const lines: string[] = [];
    const app = await h.variant({ log: createLogger({ service: 'admin', level: 'trace', destination: { write: (l: string) => void lines.push(l) } }) });
    const password = 'l0g-Secret-Pa55word';
    expect((await app.inject({ method: 'POST', url: '/v1/accounts', headers: auth, payload: validAccount({ smtp: { ...validAccount().smtp, password } }) })).statusCode).toBe(201);
    expect((await app.inject({ method: 'POST', url: '/v1/accounts', headers: auth, payload: validAccount({ fromAddress: 'bad', smtp: { ...validAccount().smtp, password } }) })).statusCode).toBe(422);
    expect((await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'admin', password } })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'admin', password: ADMIN_PASSWORD } })).statusCode).toBe(200);
    const log = lines.join('\n');
    expect(lines.length).toBeGreaterThan(4);
    for (const secret of [password, ADMIN_PASSWORD, auth.authorization.slice('Bearer '.length)]) expect(log).not.toContain(secret);
  });
});
