import { performance } from 'node:perf_hooks';
import { sleep } from '@postbus/bus';
import { acquireLeadership, renewLeadership, resignLeadership, type Database, type Leadership } from '@postbus/db';
import type { Logger } from '@postbus/telemetry';

export interface LeaderOptions {
  /** The lease's length in the database; another orchestrator takes over once it has run out. */
  readonly ttlMs?: number;
  /** How often the leader renews and a follower tries to take over. */
  readonly renewMs?: number;
}

/**
 * Leadership as a lease row in Postgres, taken with a new epoch each time. The leader renews
 * it; every leader transaction checks it (`assertLeader`), so a leader that stalls past its
 * lease writes nothing after a successor took over. Locally the leader steps down when a
 * renewal fails or its own deadline (measured from before the last renewal was sent) passes.
 * Another orchestrator takes over within ttl + renew of the leader's death.
 */
export async function runAsLeader(
  db: Database,
  holder: string,
  signal: AbortSignal,
  log: Logger,
  lead: (leading: AbortSignal, leadership: Leadership) => Promise<void>,
  opts: LeaderOptions = {},
): Promise<void> {
  const ttlMs = opts.ttlMs ?? 10_000;
  const renewMs = opts.renewMs ?? 2_000;
  while (!signal.aborted) {
    let leadership: Leadership | null = null;
    const sentAt = performance.now();
    try {
      leadership = await acquireLeadership(db, holder, ttlMs);
    } catch (err) {
      log.warn({ err }, 'leadership attempt failed');
    }
    if (!leadership) {
      await sleep(renewMs, signal);
      continue;
    }
    log.info({ leaderEpoch: leadership.epoch }, 'leading');
    let deadline = sentAt + ttlMs - 1_000;
    const leading = new AbortController();
    const stop = () => leading.abort();
    signal.addEventListener('abort', stop, { once: true });
    const work = lead(leading.signal, leadership).catch((err: unknown) => log.error({ err }, 'leader work failed'));
    try {
      while (!leading.signal.aborted) {
        await sleep(renewMs, leading.signal);
        if (leading.signal.aborted) break;
        const before = performance.now();
        const renewed = await renewLeadership(db, leadership, ttlMs).catch((err: unknown) => {
          log.warn({ err }, 'lease renewal failed');
          return undefined;
        });
        if (renewed === true) deadline = before + ttlMs - 1_000;
        else if (renewed === false || performance.now() >= deadline) {
          log.warn({ leaderEpoch: leadership.epoch }, renewed === false ? 'another orchestrator leads now: stepping down' : 'lease not renewed in time: stepping down');
          leading.abort();
        }
      }
    } finally {
      signal.removeEventListener('abort', stop);
      leading.abort();
      await work;
      if (signal.aborted) await resignLeadership(db, leadership).catch(() => undefined);
      log.info({ leaderEpoch: leadership.epoch }, 'no longer leading');
    }
  }
}
