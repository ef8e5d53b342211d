import pg, { sql, type ConnectionPool } from '@databases/pg';
import { randomHex, sharedPostgresUrl } from './namespace.js';
import { sleep } from './wait.js';

export interface TestDatabase {
  /** Connection URL of the new database (same server and user as the admin URL). */
  url: string;
  name: string;
  /** Terminates remaining connections and drops the database. Idempotent. */
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** Default `postbus_t_<16 hex>`. */
  name?: string;
  /** Server to create it on; default sharedPostgresUrl(). */
  adminUrl?: string;
}

/** Runs fn with a one-connection pool on the admin URL, disposing it afterwards. */
export async function withAdminConnection<T>(
  adminUrl: string,
  fn: (db: ConnectionPool) => Promise<T>,
): Promise<T> {
  // @databases/pg is CommonJS: under NodeNext its default import is module.exports
  const db = pg.default({
    connectionString: adminUrl,
    bigIntMode: 'bigint',
    poolSize: 1,
    ssl: false,
    applicationName: 'postbus-testing',
    onError: () => {},
  });
  try {
    return await fn(db);
  } finally {
    await db.dispose();
  }
}

/** Creates an empty database for one test file; the caller runs migrations. */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const adminUrl = options.adminUrl ?? sharedPostgresUrl();
  const name = options.name ?? `postbus_t_${randomHex(8)}`;
  await withAdminConnection(adminUrl, async (db) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await db.query(sql`CREATE DATABASE ${sql.ident(name)}`);
        return;
      } catch (err) {
        // 55006: template1 briefly in use by someone else's CREATE DATABASE
        if ((err as { code?: string }).code !== '55006' || attempt >= 20) throw err;
        await sleep(50 * attempt);
      }
    }
  });
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      await withAdminConnection(adminUrl, async (db) => {
        await db.query(sql`
          SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = ${name} AND pid <> pg_backend_pid()`);
        await db.query(sql`DROP DATABASE IF EXISTS ${sql.ident(name)} WITH (FORCE)`);
      });
      dropped = true;
    },
  };
}
