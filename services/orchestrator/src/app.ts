import { ensureDurable, runBatchLoop, type AccountDirectory, type Bus } from '@postbus/bus';
import { DISPATCHER_CONSUMER, REQUEST_ACK_WAIT_MS, streamName } from '@postbus/contracts';
import { purgeExpiredIdempotencyKeys, type Database } from '@postbus/db';
import type { Logger } from '@postbus/telemetry';
import { Dispatcher } from './dispatcher.js';
import { runAsLeader } from './leader.js';

export interface OrchestratorDeps {
  readonly bus: Bus;
  readonly db: Database;
  readonly directory: AccountDirectory;
  readonly log: Logger;
  readonly clock?: () => Date;
  readonly tickMs?: number;
  readonly reconcileIntervalMs?: number;
  readonly batchSize?: number;
}

export const LEADER_LOCK = 7_240_100;

export interface Orchestrator {
  readonly dispatcher: Dispatcher;
  /** Runs until the signal aborts: competes for leadership, and while leading dispatches. */
  run(signal: AbortSignal): Promise<void>;
}

export function buildOrchestrator(deps: OrchestratorDeps): Orchestrator {
  const dispatcher = new Dispatcher(deps);
  const { bus, log } = deps;
  const tickMs = deps.tickMs ?? 1_000;
  const reconcileMs = deps.reconcileIntervalMs ?? 30_000;

  async function lead(leading: AbortSignal): Promise<void> {
    const stream = streamName(bus.ns, 'REQUESTS');
    await ensureDurable(bus, {
      stream,
      name: DISPATCHER_CONSUMER,
      filterSubject: bus.subjects.requests,
      ackWaitMs: REQUEST_ACK_WAIT_MS,
      maxAckPending: 20_000,
    });
    await dispatcher.reconcile().catch((err: unknown) => log.warn({ err }, 'reconciliation failed'));
    const requests = runBatchLoop(bus, {
      stream,
      consumer: DISPATCHER_CONSUMER,
      batchSize: deps.batchSize ?? 500,
      signal: leading,
      handle: (batch) => dispatcher.handleRequests(batch),
      onError: (err) => log.error({ err }, 'dispatch batch failed; its requests will come back'),
    });
    const periodic = (async () => {
      let lastReconcile = Date.now();
      let lastPurge = 0;
      while (!leading.aborted) {
        await new Promise((r) => setTimeout(r, tickMs));
        if (leading.aborted) break;
        try {
          await dispatcher.tick();
          if (Date.now() - lastReconcile >= reconcileMs) {
            lastReconcile = Date.now();
            await dispatcher.reconcile();
          }
          // Idempotency keys are kept 24 h; after that the admin may reuse them, and the rows go.
          if (Date.now() - lastPurge >= 60_000) {
            lastPurge = Date.now();
            const purged = await purgeExpiredIdempotencyKeys(deps.db, (deps.clock ?? (() => new Date()))());
            if (purged) log.info({ purged }, 'expired idempotency keys removed');
          }
        } catch (err) {
          log.warn({ err }, 'periodic dispatch work failed; trying again');
        }
      }
    })();
    await Promise.all([requests, periodic]);
  }

  return {
    dispatcher,
    run: (signal) => runAsLeader(deps.db, LEADER_LOCK, signal, log, lead),
  };
}
