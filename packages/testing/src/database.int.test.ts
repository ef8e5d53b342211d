import pg, { sql } from '@databases/pg';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, withAdminConnection } from './database.js';
import { sharedPostgresUrl } from './namespace.js';

const exists = (name: string): Promise<boolean> =>
  withAdminConnection(sharedPostgresUrl(), async (db) => {
    const rows = await db.query(sql`SELECT 1 FROM pg_database WHERE datname = ${name}`);
    return rows.length === 1;
  });

describe('createTestDatabase', () => {
  it('creates an empty database with a unique name and drops it', async () => {
    const a = await createTestDatabase();
    const b = await createTestDatabase();
    expect(a.name).toMatch(/^postbus_t_[0-9a-f]{16}$/);
    expect(a.name).not.toBe(b.name);
    expect(new URL(a.url).pathname).toBe(`/${a.name}`);

    const db = pg.default({ connectionString: a.url, bigIntMode: 'number', onError: () => {} });
    await db.query(sql`CREATE TABLE t (id int primary key)`);
    await db.query(sql`INSERT INTO t VALUES (1)`);
    expect(await db.query(sql`SELECT current_database() AS name, count(*)::int AS n FROM t`)).toEqual([{ name: a.name, n: 1 }]);

    // drop() must win even while a pool still holds connections
    await a.drop();
    await a.drop();
    await b.drop();
    expect(await exists(a.name)).toBe(false);
    expect(await exists(b.name)).toBe(false);
    await db.dispose().catch(() => undefined);
  });

  it('takes a given name, quoted as an identifier', async () => {
    const name = `postbus_t_Mixed-${Date.now()}`;
    const d = await createTestDatabase({ name });
    expect(await exists(name)).toBe(true);
    await d.drop();
    expect(await exists(name)).toBe(false);
  });

  it('creates databases in parallel', async () => {
    const dbs = await Promise.all(Array.from({ length: 8 }, () => createTestDatabase()));
    await Promise.all(dbs.map((d) => d.drop()));
    for (const d of dbs) expect(await exists(d.name)).toBe(false);
  });
});
