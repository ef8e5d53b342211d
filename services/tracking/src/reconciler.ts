import { sleep, type Bus } from '@postbus/bus';
import type { Database } from '@postbus/db';
import type { Logger } from '@postbus/telemetry';
import { lockPending, publishOutboxed, removeFromOutbox } from './adapters/outbox.js';
import { LIMITS } from './deps.js';

export interface ReconcileDeps {
  readonly bus: Bus;
  readonly db: Database;
  readonly log: Logger;
}

export interface ReconcileOptions {
  /**
   * Leave rows this young alone: their request is most likely still publishing them (it
   * deletes them itself). Publishing one twice is harmless — same id — only wasted.
   */
  readonly minAgeMs?: number;
  readonly batchSize?: number;
  readonly publishTimeoutMs?: number;
}

export interface ReconcileResult {
  readonly published: number;
  readonly failed: number;
  /** Rows whose stored event no longer decodes: left in place, logged. */
  readonly unreadable: number;
}

/**
 * One pass: appends the events of suppression rows and clicks whose publish was not
 * acknowledged (the outbox, see adapters/outbox.ts), oldest first, batch by batch. Rows are locked while their
 * batch publishes (FOR UPDATE SKIP LOCKED), so replicas reconciling at once share the work;
 * a row is deleted only once JetStream acknowledged its event. Stops at the first batch with
 * a failure: NATS is away, and the next pass will try again.
 */
export async function reconcileOnce(deps: ReconcileDeps, opts: ReconcileOptions = {}): Promise<ReconcileResult> {
  const minAgeMs = opts.minAgeMs ?? 15_000;
  const batchSize = opts.batchSize ?? 100;
  const timeoutMs = opts.publishTimeoutMs ?? LIMITS.publishTimeoutMs;
  let published = 0;
  let failed = 0;
  let unreadable = 0;
  const skip = new Set<string>();
  for (;;) {
    const batch = await deps.db.tx(async (tx) => {
      const pending = (await lockPending(tx, minAgeMs, batchSize + skip.size)).filter((p) => !skip.has(p.id)).slice(0, batchSize);
      const readable = pending.flatMap((p) => (p.event ? [p.event] : []));
      for (const p of pending) {
        if (p.event) continue;
        skip.add(p.id);
        deps.log.error({ eventId: p.id }, 'outbox row does not decode to an outbox event; left in place');
      }
      const outcome = await publishOutboxed(deps.bus, readable, timeoutMs);
      await removeFromOutbox(tx, outcome.published);
      return { size: pending.length, unreadable: pending.length - readable.length, ...outcome };
    });
    published += batch.published.length;
    failed += batch.failed.length;
    unreadable += batch.unreadable;
    if (batch.failed.length > 0) {
      deps.log.warn({ failed: batch.failed.length, code: batch.failed[0]!.code }, 'reconciler: events still not appended; next pass retries');
      break;
    }
    if (batch.size < batchSize) break;
  }
  if (published > 0) deps.log.info({ published }, 'reconciler appended missing outbox events');
  return { published, failed, unreadable };
}

export interface ReconcilerLoop {
  /** Ends the loop after the pass in hand. */
  stop(): Promise<void>;
}

/** Runs reconcileOnce now and then every `intervalMs` until stopped; a failed pass (Postgres away) is logged and retried. */
export function startReconciler(deps: ReconcileDeps, opts: ReconcileOptions & { intervalMs: number }): ReconcilerLoop {
  const controller = new AbortController();
  const running = (async () => {
    while (!controller.signal.aborted) {
      try {
        await reconcileOnce(deps, opts);
      } catch (err) {
        deps.log.warn({ err }, 'reconciler pass failed');
      }
      await sleep(opts.intervalMs, controller.signal);
    }
  })();
  return {
    async stop() {
      controller.abort();
      await running;
    },
  };
}
