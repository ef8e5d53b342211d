import { existsSync } from 'node:fs';
import pg, { sql } from '@databases/pg';
import { describe, expect, it } from 'vitest';
import { startPostgresServer } from './postgres-server.js';
import { waitFor } from './wait.js';

const isRunning = (pid: number | undefined): boolean => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('startPostgresServer', () => {
  it('runs a private cluster that survives stop/start and a SIGKILL crash', { timeout: 60_000 }, async () => {
    const server = await startPostgresServer();
    try {
      expect(server.url).toBe(`postgres://postgres@127.0.0.1:${server.port}/postgres`);
      const db = pg.default({ connectionString: server.url, bigIntMode: 'number', onError: () => {} });
      try {
        await db.query(sql`CREATE TABLE t (id int primary key)`);
        await db.query(sql`INSERT INTO t VALUES (1)`);

        const firstPid = server.pid;
        await server.stop();
        expect(isRunning(firstPid)).toBe(false);
        await expect(db.query(sql`SELECT 1`)).rejects.toThrow();
        await server.start();
        await db.query(sql`INSERT INTO t VALUES (2)`);

        const secondPid = server.pid;
        await server.kill();
        expect(isRunning(secondPid)).toBe(false);
        await server.start(); // crash recovery
        await db.query(sql`INSERT INTO t VALUES (3)`);

        await server.restart();
        // the pool notices the dropped connections on first use
        await waitFor(async () => (await db.query(sql`SELECT count(*)::int AS n FROM t`))[0]?.n === 3, {
          timeoutMs: 10_000,
          message: 'rows back after restart',
        });
      } finally {
        await db.dispose().catch(() => undefined);
      }
    } finally {
      await server.destroy();
    }
    expect(existsSync(server.dir)).toBe(false);
    expect(server.pid).toBeUndefined();
  });
});
