import { sleep } from '@postbus/bus';
import { sql, type Database } from '@postbus/db';
import type { Logger } from '@postbus/telemetry';

/**
 * Leadership as a Postgres session advisory lock on a connection held for as long as we
 * lead: if the process or its connection dies, Postgres releases the lock and another
 * orchestrator takes it on its next try. (The orchestrator issue replaces this with a
 * leader epoch stamped on every dispatch.)
 */
export async function runAsLeader(
  db: Database,
  key: number,
  signal: AbortSignal,
  log: Logger,
  lead: (leading: AbortSignal) => Promise<void>,
  opts: { retryMs?: number; checkMs?: number } = {},
): Promise<void> {
  const retryMs = opts.retryMs ?? 2_000;
  const checkMs = opts.checkMs ?? 2_000;
  while (!signal.aborted) {
    try {
      await db.task(async (conn) => {
        const [row] = await conn.query(sql`SELECT pg_try_advisory_lock(${key}) AS ok`);
        if (!row?.ok) return;
        log.info('leading');
        const leading = new AbortController();
        const stop = () => leading.abort();
        signal.addEventListener('abort', stop, { once: true });
        const work = lead(leading.signal);
        try {
          while (!leading.signal.aborted) {
            await sleep(checkMs, leading.signal);
            if (leading.signal.aborted) break;
            await conn.query(sql`SELECT 1`).catch((err: unknown) => {
              log.warn({ err }, 'lost the leadership connection: stepping down');
              leading.abort();
            });
          }
        } finally {
          signal.removeEventListener('abort', stop);
          leading.abort();
          await work.catch((err: unknown) => log.error({ err }, 'leader work failed'));
          await conn.query(sql`SELECT pg_advisory_unlock(${key})`).catch(() => undefined);
          log.info('no longer leading');
        }
      });
    } catch (err) {
      log.warn({ err }, 'leadership attempt failed');
    }
    await sleep(retryMs, signal);
  }
}
