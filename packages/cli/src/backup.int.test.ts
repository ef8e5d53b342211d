import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connectBus, publishEvent, readRuntimeSettings, updateRuntimeSettings, type Bus } from '@postbus/bus';
import { newId, subjectsFor, type AccountEvent, type MailEvent, type Namespace } from '@postbus/contracts';
import { addSuppression, connectDatabase, sql, type Database } from '@postbus/db';
import { createTestDatabase, sharedNatsUrl, startNatsServer, startTestEnvironment, testNamespace, type NatsServer, type TestDatabase, type TestEnvironment } from '@postbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from './testing/captured.js';

// The drill: a platform with accounts, suppressions and mail history is backed up, then restored
// onto a fresh nats-server (its own process) and a fresh database, under another namespace.
let source: TestEnvironment;
let target: { server: NatsServer; testDb: TestDatabase; db: Database; bus: Bus; ns: Namespace };
let dir: string;
const accountId = newId('acc');
const at = '2025-06-01T10:00:00.000Z';

const registered: AccountEvent = {
  id: `${accountId}.registered`,
  type: 'AccountRegistered',
  version: 1,
  occurredAt: at,
  accountId,
  data: {
    name: 'Shop sender',
    provider: 'smtp',
    fromAddress: 'news@shop.example',
    smtp: { host: 'smtp.shop.example', port: 587, tls: 'starttls', user: 'news', secretId: newId('sec') },
    settings: { dailyLimit: 2000, batchSize: 50, sendDelayMs: 100, postalAddress: '1 Main St, Springfield', fromName: 'Shop' },
    actor: 'admin',
  },
};
const queued = (messageId: string): MailEvent => ({
  id: `${messageId}.1.1.queued`,
  type: 'EmailQueued',
  version: 1,
  occurredAt: at,
  accountId,
  messageId,
  data: { assignment: 1, attempt: 1, kind: 'bulk', to: 'someone@example.org', subject: 'Hello', requestedAt: at },
});
const sent = (messageId: string): MailEvent => ({
  id: `${messageId}.1.1.sent`,
  type: 'EmailSent',
  version: 1,
  occurredAt: at,
  accountId,
  messageId,
  data: { assignment: 1, attempt: 1, startedAt: at, headerMessageId: `<${messageId}@postbus>`, replyCode: 250, response: '250 2.0.0 OK' },
});

function cli(env: { db: string; nats: string; ns: Namespace }, ...argv: string[]) {
  return runCliCaptured({ databaseUrl: env.db, natsUrl: env.nats, namespace: env.ns.prefix }, argv);
}

const sourceEnv = () => ({ db: source.testDb.url, nats: sharedNatsUrl(), ns: source.ns });
const targetEnv = () => ({ db: target.testDb.url, nats: target.server.url, ns: target.ns });

beforeAll(async () => {
  source = await startTestEnvironment('cli-backup', { poolSize: 3 });
  const s = subjectsFor(source.ns);
  await publishEvent(source.bus, s.account(accountId), registered);
  for (let i = 0; i < 3; i++) {
    const m = newId('msg');
    await publishEvent(source.bus, s.mail(accountId, 'queued'), queued(m));
    if (i < 2) await publishEvent(source.bus, s.mail(accountId, 'sent'), sent(m));
  }
  await addSuppression(source.db, 'Gone@Example.org', 'unsubscribed', 'test');
  await addSuppression(source.db, 'bounced@example.net', 'hard_bounce', 'test');
  await updateRuntimeSettings(source.bus, { trackOpens: false });
  dir = await mkdtemp(path.join(os.tmpdir(), 'postbus-backup-'));

  const server = await startNatsServer();
  const testDb = await createTestDatabase();
  const ns = testNamespace();
  target = { server, testDb, ns, db: connectDatabase({ url: testDb.url, poolSize: 2 }), bus: await connectBus({ servers: [server.url], name: 'restore-check', namespace: ns }) };
});

afterAll(async () => {
  await target.bus.close();
  await target.db.dispose();
  await target.testDb.drop();
  await target.server.stop();
  await source.close();
  await rm(dir, { recursive: true, force: true });
});

const tableRows = (db: Database, table: string) => db.query(sql`SELECT row_to_json(t)::jsonb AS r FROM ${sql.ident(table)} t ORDER BY 1`);

describe('postbus backup and restore', () => {
  it('backs up, restores onto a fresh nats-server and database, and gives the same platform', async () => {
    expect((await cli(sourceEnv(), 'projections', 'rebuild')).code).toBe(0);
    const backup = await cli(sourceEnv(), 'backup', '--out', dir);
    expect(backup).toMatchObject({ code: 0 });
    expect(backup.stdout).toMatch(/^backed up 6 event\(s\) from 8 streams and \d+ row\(s\) from \d+ tables to /);
    expect((await stat(path.join(dir, 'tables', 'suppressions.jsonl'))).mode & 0o777).toBe(0o600);

    const restore = await cli(targetEnv(), 'restore', dir);
    expect(restore.stderr).not.toContain('postbus restore:');
    expect(restore).toMatchObject({ code: 0 });
    expect(restore.stdout).toMatch(/^restored 6 event\(s\) and \d+ row\(s\)/);

    // Suppressions (authoritative, Postgres) exactly as before.
    expect(await tableRows(target.db, 'suppressions')).toEqual(await tableRows(source.db, 'suppressions'));
    expect(await tableRows(target.db, 'suppressions')).toHaveLength(2);
    // Accounts and message history, rebuilt from the restored log.
    for (const table of ['sender_accounts', 'email_queue', 'send_logs']) {
      const before = await tableRows(source.db, table);
      expect(before.length).toBeGreaterThan(0);
      expect(await tableRows(target.db, table)).toEqual(before);
    }
    // The events themselves, in order, under the new namespace.
    const events = async (env: ReturnType<typeof sourceEnv>) =>
      (await cli(env, 'replay', '--stream', 'MAIL')).stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { event: { id: string } }).event.id);
    expect(await events(targetEnv())).toEqual(await events(sourceEnv()));
    expect((await readRuntimeSettings(target.bus)).stored).toEqual({ trackOpens: false });
  });

  it('refuses to restore over data', async () => {
    const again = await cli(targetEnv(), 'restore', dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('the database is not fresh (suppressions has rows)');
  });
});
