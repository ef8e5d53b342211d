import { connectBus, deleteNamespace, ensureBuckets, ensureStreams, type Bus } from '@postbus/bus';
import { bucketSpecs, streamSpecs, type Namespace } from '@postbus/contracts';
import { connectDatabase, migrate, type Database } from '@postbus/db';
import { createTestDatabase, type TestDatabase } from './database.js';
import { sharedNatsUrl, testNamespace } from './namespace.js';

export interface TestEnvironment {
  readonly ns: Namespace;
  readonly bus: Bus;
  readonly db: Database;
  readonly testDb: TestDatabase;
  /** Deletes the namespace's streams and buckets and drops the database. */
  close(): Promise<void>;
}

/**
 * What most integration test files start with: their own subject namespace with its streams
 * on the shared NATS, and their own migrated database on the shared Postgres.
 */
export async function startTestEnvironment(name: string, opts: { poolSize?: number; ns?: Namespace } = {}): Promise<TestEnvironment> {
  const ns = opts.ns ?? testNamespace();
  const testDb = await createTestDatabase();
  const db = connectDatabase({ url: testDb.url, poolSize: opts.poolSize ?? 6 });
  try {
    await migrate(db);
    const bus = await connectBus({ servers: [sharedNatsUrl()], name, namespace: ns });
    await ensureStreams(bus, streamSpecs(ns));
    await ensureBuckets(bus, bucketSpecs(ns));
    return {
      ns,
      bus,
      db,
      testDb,
      async close() {
        await deleteNamespace(bus, streamSpecs(ns), bucketSpecs(ns));
        await bus.close();
        await db.dispose();
        await testDb.drop();
      },
    };
  } catch (err) {
    await db.dispose();
    await testDb.drop();
    throw err;
  }
}
