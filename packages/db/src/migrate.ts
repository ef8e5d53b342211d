import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { sql } from '@databases/pg';
import type { Database } from './connect.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));
const MIGRATION_LOCK = 7_240_001;

/**
 * Applies the SQL files in migrations/ in name order, each in its own transaction, under an
 * advisory lock so that services starting together migrate once.
 */
export async function migrate(db: Database, dir: string = MIGRATIONS_DIR): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  return db.task(async (conn) => {
    await conn.query(sql`SELECT pg_advisory_lock(${MIGRATION_LOCK})`);
    try {
      await conn.query(sql`CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      const done = new Set((await conn.query(sql`SELECT name FROM schema_migrations`)).map((r) => r.name as string));
      const applied: string[] = [];
      for (const file of files) {
        if (done.has(file)) continue;
        const text = await readFile(`${dir}/${file}`, 'utf8');
        await conn.tx(async (tx) => {
          await tx.query(sql.__dangerous__rawValue(text));
          await tx.query(sql`INSERT INTO schema_migrations (name) VALUES (${file})`);
        });
        applied.push(file);
      }
      return applied;
    } finally {
      await conn.query(sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`);
    }
  });
}
