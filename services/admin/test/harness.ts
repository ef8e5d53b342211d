import { randomBytes } from 'node:crypto';
import { AccountDirectory, connectBus, deleteNamespace, ensureStreams, type Bus } from '@postbus/bus';
import { bucketSpecs, streamName, streamSpecs, type Namespace, type StreamBase } from '@postbus/contracts';
import { connectDatabase, migrate, type Database } from '@postbus/db';
import { Keyring, generateMasterKey, parseMasterKeys } from '@postbus/secrets';
import { silentLogger } from '@postbus/telemetry';
import { createTestDatabase, sharedNatsUrl, testNamespace, type TestDatabase } from '@postbus/testing';
import type { FastifyInstance } from 'fastify';
import { buildAdmin, type AdminDeps } from '../src/index.js';
import { AuthService } from '../src/auth/login.js';

/**
 * Test support (outside src/ so that it is neither built nor collected as a test): a real
 * NATS namespace with its streams and a fresh database per test file, and the admin app
 * on top, driven through app.inject().
 */
export const ADMIN_USER = 'admin';
export const ADMIN_PASSWORD = 'correct horse battery staple';

export interface Harness {
  readonly app: FastifyInstance;
  readonly bus: Bus;
  readonly db: Database;
  readonly directory: AccountDirectory;
  readonly ns: Namespace;
  readonly keyring: Keyring;
  readonly deps: AdminDeps;
  readonly testDb: TestDatabase;
  /** Logs in and returns an Authorization header. */
  authHeader(): Promise<{ authorization: string }>;
  /** Another app over the same resources with some deps replaced (closed by close()). */
  variant(overrides: Partial<AdminDeps>): Promise<FastifyInstance>;
  /** Messages currently stored in one of the namespace's streams. */
  count(base: StreamBase): Promise<number>;
  /** The raw stored messages of a stream (data and headers), for looking inside. */
  rawMessages(base: StreamBase): Promise<Array<{ subject: string; data: Uint8Array; header: Uint8Array }>>;
  close(): Promise<void>;
}

export async function startHarness(overrides: Partial<AdminDeps> = {}): Promise<Harness> {
  const ns = testNamespace();
  const specs = streamSpecs(ns);
  const bus = await connectBus({ servers: [sharedNatsUrl()], name: `admin-test-${ns.prefix}`, namespace: ns });
  await ensureStreams(bus, specs);
  const testDb = await createTestDatabase();
  const db = connectDatabase({ url: testDb.url, poolSize: 5 });
  await migrate(db);
  const log = silentLogger();
  const directory = await AccountDirectory.start(bus, log);
  const keyring = new Keyring(parseMasterKeys(`k1:${generateMasterKey()}`), 'k1');
  const deps: AdminDeps = {
    bus,
    db,
    directory,
    cipher: keyring,
    log,
    auth: { jwtSecret: randomBytes(32), adminUser: ADMIN_USER, adminPassword: ADMIN_PASSWORD },
    ...overrides,
  };
  await AuthService.bootstrap(db, deps.auth.adminUser, deps.auth.adminPassword, new Date());
  const app = await buildAdmin(deps);
  const variants: FastifyInstance[] = [];
  let header: { authorization: string } | undefined;

  return {
    app,
    bus,
    db,
    directory,
    ns,
    keyring,
    deps,
    testDb,
    async authHeader() {
      if (header) return header;
      const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: ADMIN_USER, password: ADMIN_PASSWORD } });
      if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
      header = { authorization: `Bearer ${res.json<{ accessToken: string }>().accessToken}` };
      return header;
    },
    async variant(o) {
      const v = await buildAdmin({ ...deps, ...o });
      variants.push(v);
      return v;
    },
    async count(base) {
      const info = await bus.jsm.streams.info(streamName(ns, base));
      return info.state.messages;
    },
    async rawMessages(base) {
      const name = streamName(ns, base);
      const info = await bus.jsm.streams.info(name);
      const out: Array<{ subject: string; data: Uint8Array; header: Uint8Array }> = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
        const m = await bus.jsm.streams.getMessage(name, { seq });
        if (!m) continue;
        const h = m.header;
        const headerText = h ? h.keys().map((k) => `${k}: ${h.values(k).join(', ')}`).join('\r\n') : '';
        out.push({ subject: m.subject, data: m.data, header: Buffer.from(headerText) });
      }
      return out;
    },
    async close() {
      for (const v of variants) await v.close();
      await app.close();
      await directory.stop();
      // Buckets too: routes such as /v1/nodes and /v1/config open them.
      await deleteNamespace(bus, specs, bucketSpecs(bus.ns));
      await bus.close();
      await db.dispose();
      await testDb.drop();
    },
  };
}

export const validAccount = (over: Record<string, unknown> = {}) => ({
  name: 'Newsletter',
  fromAddress: 'news@example.com',
  fromName: 'Example News',
  smtp: { host: 'smtp.example.com', port: 587, tls: 'starttls', user: 'news@example.com', password: 'sm7p-Pa55word!unique' },
  postalAddress: '1 Example Street, 12345 Example City',
  ...over,
});

export const validMessage = (over: Record<string, unknown> = {}) => ({
  to: 'reader@example.org',
  subject: 'Hello',
  text: 'Hello there',
  ...over,
});
