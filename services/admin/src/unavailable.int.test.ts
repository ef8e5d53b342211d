import { AccountDirectory, connectBus, deleteStreams, ensureStreams, type Bus } from '@postbus/bus';
import { newId, streamName, streamSpecs } from '@postbus/contracts';
import { connectDatabase, type Database } from '@postbus/db';
import { sharedNatsUrl, startNatsServer, testNamespace, type NatsServer } from '@postbus/testing';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, validAccount, validMessage, type Harness } from '../test/harness.js';

/** When NATS or Postgres is away: 503 problem+json with Retry-After, and nothing half-done. */
let h: Harness;
let auth: { authorization: string };
beforeAll(async () => {
  h = await startHarness();
  auth = await h.authHeader();
  expect((await h.app.inject({ method: 'POST', url: '/v1/accounts', headers: auth, payload: validAccount() })).statusCode).toBe(201);
});
afterAll(async () => {
  await h?.close();
});

function expect503(res: LightMyRequestResponse, code: string) {
  expect(res.statusCode, res.body).toBe(503);
  expect(res.headers['retry-after']).toBe('5');
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ status: 503, code });
}

const message = (app: Harness['app'], headers: Record<string, string> = {}, payload: object = validMessage()) =>
  app.inject({ method: 'POST', url: '/v1/messages', headers: { ...auth, ...headers }, payload });

describe('JetStream refuses the publish', () => {
  it('no stream for the subjects → 503 log_unavailable, and the Idempotency-Key is free again', async () => {
    const bare = await connectBus({ servers: [sharedNatsUrl()], name: 'admin-test-bare', namespace: testNamespace() });
    try {
      const app = await h.variant({ bus: bare });
      const key = `k-${newId('req')}`;
      expect503(await message(app, { 'idempotency-key': key }), 'log_unavailable');
      const retry = await message(h.app, { 'idempotency-key': key });
      expect(retry.statusCode).toBe(202);
      expect(retry.headers['idempotent-replayed']).toBeUndefined();
    } finally {
      await bare.close();
    }
  });

  it('a full stream → 503 log_full', async () => {
    const ns = testNamespace();
    const bus = await connectBus({ servers: [sharedNatsUrl()], name: 'admin-test-full', namespace: ns });
    const requests = streamSpecs(ns).find((s) => s.base === 'REQUESTS')!;
    try {
      await bus.jsm.streams.add({ name: requests.name, subjects: [...requests.subjects], max_msgs: 1, discard: 'new' });
      const app = await h.variant({ bus });
      expect((await message(app, {}, validMessage({ kind: 'transactional' }))).statusCode).toBe(202);
      expect503(await message(app, {}, validMessage({ kind: 'transactional' })), 'log_full');
    } finally {
      await bus.jsm.streams.delete(requests.name).catch(() => undefined);
      await bus.close();
    }
  });
});

describe('NATS is down', () => {
  let server: NatsServer;
  let bus: Bus;
  let directory: AccountDirectory;
  const ns = testNamespace();
  beforeAll(async () => {
    server = await startNatsServer();
    bus = await connectBus({ servers: [server.url], name: 'admin-test-down', namespace: ns });
    await ensureStreams(bus, streamSpecs(ns));
    directory = await AccountDirectory.start(bus, h.deps.log);
  });
  afterAll(async () => {
    await server.start();
    await directory?.stop();
    await deleteStreams(bus, streamSpecs(ns));
    await bus?.close();
    await server?.stop();
  });

  it('503 log_unavailable while it is away, not ready; back to normal when it returns', async () => {
    const app = await h.variant({ bus, directory, publishTimeoutMs: 1_000 });
    expect((await message(app, {}, validMessage({ kind: 'transactional' }))).statusCode).toBe(202);
    await server.kill();
    const key = `k-${newId('req')}`;
    expect503(await message(app, { 'idempotency-key': key }, validMessage({ kind: 'transactional' })), 'log_unavailable');
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect503(ready, 'not_ready');
    expect(ready.json<{ detail: string }>().detail).toContain('nats');

    await server.start();
    await expect.poll(async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode, { timeout: 15_000 }).toBe(200);
    const retry = await message(app, { 'idempotency-key': key }, validMessage({ kind: 'transactional' }));
    expect(retry.statusCode).toBe(202);
    const info = await bus.jsm.streams.info(streamName(ns, 'REQUESTS'));
    expect(info.state.messages).toBe(2);
  });
});

describe('Postgres is down', () => {
  let db: Database;
  beforeAll(() => {
    db = connectDatabase({ url: 'postgres://root@127.0.0.1:1/postbus_nowhere', poolSize: 1 });
  });
  afterAll(async () => {
    await db.dispose();
  });

  it('503 database_unavailable for anything that needs it, and nothing published', async () => {
    const app = await h.variant({ db });
    const before = { requests: await h.count('REQUESTS'), accounts: await h.count('ACCOUNTS') };
    expect503(await message(app, { 'idempotency-key': 'k-pg-down' }), 'database_unavailable');
    expect503(await app.inject({ method: 'GET', url: `/v1/messages/${newId('msg')}`, headers: auth }), 'database_unavailable');
    expect503(await app.inject({ method: 'POST', url: '/v1/accounts', headers: auth, payload: validAccount() }), 'database_unavailable');
    expect503(await app.inject({ method: 'GET', url: '/readyz' }), 'not_ready');
    expect({ requests: await h.count('REQUESTS'), accounts: await h.count('ACCOUNTS') }).toEqual(before);
    // Without a key nothing needs Postgres: the log is the source of truth for requests.
    expect((await message(app)).statusCode).toBe(202);
  });
});
