import { connectBus, deleteStreams, ensureStreams, publishEvent, type Bus } from '@postbus/bus';
import { subjectsFor, streamSpecs, newId, type PostbusEvent } from '@postbus/contracts';
import { readdir } from 'node:fs/promises';
import { MIGRATIONS_DIR, connectDatabase, sql, type Database } from '@postbus/db';
import { createTestDatabase, sharedNatsUrl, testNamespace, type TestDatabase } from '@postbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from './testing/captured.js';

const ns = testNamespace();
let bus: Bus;
let db: Database;
let testDb: TestDatabase;

beforeAll(async () => {
  bus = await connectBus({ servers: [sharedNatsUrl()], name: 'cli-int', namespace: ns });
  await ensureStreams(bus, streamSpecs(ns));
  testDb = await createTestDatabase();
  db = connectDatabase({ url: testDb.url, poolSize: 2 });
});

afterAll(async () => {
  await deleteStreams(bus, streamSpecs(ns));
  await bus.close();
  await db.dispose();
  await testDb.drop();
});

function cli(...argv: string[]) {
  return runCliCaptured({ databaseUrl: testDb.url, natsUrl: sharedNatsUrl(), namespace: ns.prefix }, argv);
}

describe('postbus CLI against NATS and Postgres', () => {
  it('migrates once, then rebuilds the projections with a progress bar and a summary', async () => {
    expect(await cli('migrate')).toMatchObject({ code: 0, stdout: `applied ${(await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort().join(', ')}\n` });
    expect(await cli('migrate')).toMatchObject({ code: 0, stdout: 'nothing to apply\n' });

    const s = subjectsFor(ns);
    for (let i = 0; i < 5; i++) {
      const messageId = newId('msg');
      const e: PostbusEvent = {
        id: `${messageId}.requested`,
        type: 'EmailRequested',
        version: 1,
        occurredAt: '2025-06-01T10:00:00.000Z',
        messageId,
        data: { kind: 'transactional', content: { to: `u${i}@example.org`, subject: 'Receipt' }, expiresAt: '2025-06-04T10:00:00.000Z', requestedBy: 'test' },
      };
      await publishEvent(bus, s.request(messageId), e);
    }

    const out = await cli('projections', 'rebuild', 'mail');
    expect(out.code).toBe(0);
    expect(out.stderr).toMatch(/\[##########\] 100% mail [A-Z0-9]+_REQUESTS 5\/5/);
    expect(out.stderr).toContain('rebuilt mail:');
    expect(out.stderr).toMatch(/rebuilt 1 projection\(s\) in \d+\.\d s\n$/);
    const [n] = await db.query(sql`SELECT count(*)::int AS n FROM email_queue WHERE status = 'requested'`);
    expect(n).toEqual({ n: 5 });

    const unknown = await cli('projections', 'rebuild', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown projection nope (known: accounts, mail, tracking)');
  });
});
