import { expect } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { connectBus, deleteNamespace, ensureStreams, type Bus } from '@postbus/bus';
import { bucketSpecs, streamSpecs, type Namespace } from '@postbus/contracts';
import { connectDatabase, migrate, sql, type Database } from '@postbus/db';
import { createTestDatabase, sharedNatsUrl, startSmtpSink, testNamespace, waitFor, type SmtpSink, type TestDatabase } from '@postbus/testing';
import { AdminClient, Platform, type GmailStandin, type ServiceName } from '@postbus/testing';

export interface World {
  readonly ns: Namespace;
  readonly natsUrl: string;
  readonly testDb: TestDatabase | undefined;
  readonly db: Database;
  readonly bus: Bus;
  readonly sink: SmtpSink;
  readonly platform: Platform;
  readonly admin: AdminClient;
  close(): Promise<void>;
}

export const SMTP_PASSWORD = 'correct horse battery staple';

/** A namespace, a database, an SMTP server and the platform's processes: everything real, everything removed after. */
export async function startWorld(opts: {
  natsUrl?: string;
  databaseUrl?: string;
  users: string[];
  sinkDelayMs?: number;
  /** The SMTP server closes sessions idle this long. */
  sinkSocketTimeoutMs?: number;
  env?: Record<string, string>;
  /** Which services start with the world (default all four, one of each). */
  services?: ServiceName[];
  /** Accounts whose password the SMTP server refuses (535). */
  refusedUsers?: string[];
  /** Output chunks kept per service (a test that reads a service's log). */
  keepOutputChunks?: number;
}): Promise<World> {
  const ns = testNamespace();
  const natsUrl = opts.natsUrl ?? sharedNatsUrl();
  // A database of its own on the shared server, unless the test runs its own Postgres.
  const testDb = opts.databaseUrl ? undefined : await createTestDatabase();
  const databaseUrl = opts.databaseUrl ?? testDb!.url;
  // Whatever was made is undone in reverse order, also when start-up fails half-way.
  const undo: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const step of undo.splice(0).reverse()) await step().catch(() => undefined);
  };
  if (testDb) undo.push(() => testDb.drop());
  try {
    const db = connectDatabase({ url: databaseUrl, poolSize: 4 });
    undo.push(() => db.dispose());
    await migrate(db);
    const bus = await connectBus({ servers: [natsUrl], name: 'integration-test', namespace: ns });
    undo.push(() => bus.close());
    undo.push(() => deleteNamespace(bus, streamSpecs(ns), bucketSpecs(ns)));
    await ensureStreams(bus, streamSpecs(ns));
    const sink = await startSmtpSink({
      auth: Object.fromEntries(opts.users.map((u) => [u, opts.refusedUsers?.includes(u) ? 'another password' : SMTP_PASSWORD])),
      ...(opts.sinkDelayMs ? { delayMs: opts.sinkDelayMs } : {}),
      ...(opts.sinkSocketTimeoutMs ? { socketTimeoutMs: opts.sinkSocketTimeoutMs } : {}),
      maxClients: 200,
    });
    undo.push(() => sink.close());
    const platform = new Platform({ natsUrl, databaseUrl, namespace: ns.prefix, ...(opts.env ? { env: opts.env } : {}), ...(opts.keepOutputChunks ? { keepOutputChunks: opts.keepOutputChunks } : {}) });
    undo.push(() => platform.stop());
    await platform.start(opts.services);
    const admin = new AdminClient(platform.adminUrl);
    await admin.login('admin', platform.adminPassword);
    return { ns, natsUrl, testDb, db, bus, sink, platform, admin, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export function registerAccount(w: World, user: string, dailyLimit: number, extra: Record<string, unknown> = {}): Promise<string> {
  return createAccount(w, {
    name: `account ${user}`,
    fromAddress: `${user}@sender.test`,
    smtp: { host: '127.0.0.1', port: w.sink.port, tls: 'none', user, password: SMTP_PASSWORD },
    dailyLimit,
    ...extra,
  });
}

/** A Gmail API account for `user`, who is added to the stand-in with a service account of its own. */
export async function registerGmailAccount(w: World, gmail: GmailStandin, user: string, extra: Record<string, unknown> = {}): Promise<string> {
  gmail.addUser(user);
  const key = await gmail.createServiceAccount();
  return createAccount(w, { name: `gmail ${user}`, fromAddress: user, provider: 'gmail', gmail: { serviceAccountKey: JSON.stringify(key) }, ...extra });
}

/** POST /v1/accounts with the tests' defaults (batch 20, no delay, a postal address); the new account's id. */
async function createAccount(w: World, body: Record<string, unknown>): Promise<string> {
  const res = await w.admin.request('POST', '/v1/accounts', { batchSize: 20, sendDelayMs: 0, postalAddress: '1 Test Street, Testville', ...body });
  if (res.status !== 201) throw new Error(`account not created: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

export async function requestMessages(w: World, count: number, prefix = 'r'): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += 1000) {
    const messages = Array.from({ length: Math.min(1000, count - start) }, (_, i) => ({
      to: `${prefix}${start + i}@receiver.test`,
      subject: `Hello ${start + i}`,
      text: `Message number ${start + i}.`,
    }));
    const res = await w.admin.request('POST', '/v1/messages', { messages });
    if (res.status !== 202) throw new Error(`messages not accepted: ${res.status} ${JSON.stringify(res.body)}`);
    ids.push(...(res.body.messages as Array<{ id: string }>).map((m) => m.id));
  }
  return ids;
}

export async function ledgerStates(db: Database): Promise<Record<string, number>> {
  const rows = await db.query(sql`SELECT state, count(*)::int AS n FROM deliveries GROUP BY state`);
  return Object.fromEntries(rows.map((r) => [r.state as string, r.n as number]));
}

export const OPEN_STATES = ['waiting', 'assigned', 'claimed', 'sending', 'retry_wait'];

/** Waits until the ledger holds `total` messages and none of them is still open. */
export async function waitUntilSettled(w: World, total: number, timeoutMs: number, message = 'messages did not all reach an outcome'): Promise<void> {
  // On failure, say where things stand: the ledger, and what the services last logged.
  const explain = async (err: unknown): Promise<never> => {
    const states = await ledgerStates(w.db).catch(() => ({}));
    const logs = ['orchestrator', 'sender'].map((n) => `--- ${n}\n${w.platform.logs(n).slice(-3000)}`).join('\n');
    // The whole of each service's output, for a person reproducing a failure on their machine.
    const dir = process.env.POSTBUS_TEST_LOG_DIR;
    if (dir) for (const n of ['orchestrator', 'sender', 'projector', 'admin']) writeFileSync(path.join(dir, `${n}-${process.pid}.log`), w.platform.logs(n));
    throw new Error(`${(err as Error).message}\nledger: ${JSON.stringify(states)}\n${logs}`);
  };
  await waitFor(
    async () => {
      // Postgres may be away for a while in some tests: not settled yet.
      const s = await ledgerStates(w.db).catch(() => ({}));
      return OPEN_STATES.every((o) => !s[o]) && Object.values(s).reduce((a, b) => a + b, 0) === total;
    },
    { timeoutMs, intervalMs: 250, message },
  ).catch(explain);
}

/** Every message has an outcome or is `uncertain`; the server saw none twice; the ledger and the server agree. */
export async function expectSettledWithoutDuplicates(w: World, total: number, timeoutMs = 120_000, message = 'messages did not all reach an outcome'): Promise<Record<string, number>> {
  await waitUntilSettled(w, total, timeoutMs, message);
  const states = await ledgerStates(w.db);
  expect(w.sink.duplicates()).toEqual([]);
  const atServer = new Set(w.sink.transactions.map((t) => t.messageId));
  const rows = await w.db.query(sql`SELECT message_id, state, header_message_id FROM deliveries`);
  for (const r of rows) {
    if (r.state === 'sent') expect(atServer.has(r.header_message_id)).toBe(true);
  }
  const known = new Set(rows.filter((r) => r.state === 'sent' || r.state === 'uncertain').map((r) => `<${r.message_id}@sender.test>`));
  for (const id of atServer) expect(known.has(id!)).toBe(true);
  return states;
}
