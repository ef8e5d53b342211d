import { ensureDurable, openNodesBucket, publishEvent, runBatchLoop, sleep, type AccountDirectory, type Bus } from '@postbus/bus';
import { DEFAULT_RUNTIME_SETTINGS, DISPATCHER_CONSUMER, FAULTS_CONSUMER, REQUEST_ACK_WAIT_MS, streamName, type RuntimeSettings } from '@postbus/contracts';
import { purgeExpiredIdempotencyKeys, purgeWorkerRestarts, type Database, type Leadership } from '@postbus/db';
import type { Logger } from '@postbus/telemetry';
import { Alerter, type Notifier } from './alerts.js';
import { CampaignExpander } from './campaigns.js';
import { Dispatcher } from './dispatcher.js';
import { runAsLeader, type LeaderOptions } from './leader.js';
import { clearSamples, sampleMetrics } from './metrics-sampler.js';
import { Supervisor } from './supervisor.js';

export interface OrchestratorDeps {
  readonly bus: Bus;
  readonly db: Database;
  readonly directory: AccountDirectory;
  readonly log: Logger;
  /** Our name in the leader lease. */
  readonly instanceId: string;
  readonly clock?: () => Date;
  readonly tickMs?: number;
  readonly placementMs?: number;
  readonly reconcileIntervalMs?: number;
  readonly batchSize?: number;
  /** A running campaign's messages in flight at most (POSTBUS_CAMPAIGN_WINDOW). */
  readonly campaignWindow?: number;
  /** Messages per EmailsQueued (POSTBUS_QUEUED_PER_EVENT; 1 when not given). */
  readonly queuedPerEvent?: number;
  readonly notifiers?: readonly Notifier[];
  /** The platform's runtime settings (a KV watch in main.ts; defaults when absent). */
  readonly settings?: () => RuntimeSettings;
  readonly takeoverGraceMs?: number;
  readonly leader?: LeaderOptions;
  /** How often the leader samples queue depth, account states and storage for /metrics (default 15 s). */
  readonly metricsSampleMs?: number;
}

export interface Orchestrator {
  readonly dispatcher: Dispatcher;
  /** Runs until the signal aborts: competes for leadership, and while leading does the leader's work. */
  run(signal: AbortSignal): Promise<void>;
}

/** Repeats `fn` every `ms` until the signal aborts; a failed pass is logged and tried again. */
async function every(ms: number, signal: AbortSignal, log: Logger, what: string, fn: () => Promise<unknown>): Promise<void> {
  while (!signal.aborted) {
    try {
      await fn();
    } catch (err) {
      if (signal.aborted) break;
      log.warn({ err }, `${what} failed; trying again`);
    }
    await sleep(ms, signal);
  }
}

export function buildOrchestrator(deps: OrchestratorDeps): Orchestrator {
  const dispatcher = new Dispatcher(deps);
  const { bus, log, db } = deps;
  const clock = deps.clock ?? (() => new Date());
  const tickMs = deps.tickMs ?? 1_000;
  const reconcileMs = deps.reconcileIntervalMs ?? 30_000;
  const campaigns = new CampaignExpander({ bus, db, log, clock, ...(deps.campaignWindow !== undefined ? { window: deps.campaignWindow } : {}) });
  const alerter = new Alerter({ bus, db, log, clock, notifiers: deps.notifiers ?? [] });

  async function lead(leading: AbortSignal, leadership: Leadership): Promise<void> {
    dispatcher.leadership = leadership;
    campaigns.leadership = leadership;
    const now = clock();
    await publishEvent(bus, bus.subjects.ops('leader'), {
      id: `leader.${leadership.epoch}`,
      type: 'LeaderElected',
      version: 1,
      occurredAt: now.toISOString(),
      data: { holder: leadership.holder.slice(0, 200), leaderEpoch: leadership.epoch },
    }).catch((err: unknown) => log.warn({ err }, 'leader event not published'));
    const supervisor = new Supervisor({
      bus,
      db,
      directory: deps.directory,
      log,
      clock,
      alerter,
      nodes: await openNodesBucket(bus),
      ...(deps.takeoverGraceMs !== undefined ? { graceMs: deps.takeoverGraceMs } : {}),
      settings: deps.settings ?? (() => DEFAULT_RUNTIME_SETTINGS),
    });
    const requestsStream = streamName(bus.ns, 'REQUESTS');
    await ensureDurable(bus, { stream: requestsStream, name: DISPATCHER_CONSUMER, filterSubject: bus.subjects.requests, ackWaitMs: REQUEST_ACK_WAIT_MS, maxAckPending: 20_000 });
    const opsStream = streamName(bus.ns, 'OPS');
    await ensureDurable(bus, { stream: opsStream, name: FAULTS_CONSUMER, filterSubject: bus.subjects.ops('fault'), ackWaitMs: 30_000, maxAckPending: 1_000 });
    await dispatcher.reconcile().catch((err: unknown) => log.warn({ err }, 'reconciliation failed'));
    const requests = runBatchLoop(bus, {
      stream: requestsStream,
      consumer: DISPATCHER_CONSUMER,
      batchSize: deps.batchSize ?? 500,
      signal: leading,
      handle: (batch) => dispatcher.handleRequests(batch),
      spanName: 'dispatcher process',
      onError: (err) => log.error({ err }, 'dispatch batch failed; its requests will come back'),
    });
    const faults = runBatchLoop(bus, {
      stream: opsStream,
      consumer: FAULTS_CONSUMER,
      batchSize: 50,
      signal: leading,
      handle: (batch) => supervisor.handleFaults(batch),
      onError: (err) => log.error({ err }, 'fault batch failed; its events will come back'),
    });
    const placement = every(deps.placementMs ?? 1_000, leading, log, 'placement', () => supervisor.place(leadership));
    const review = every(Math.max(tickMs, 2_000), leading, log, 'account review', () => supervisor.review());
    const expansion = every(tickMs, leading, log, 'campaign expansion', () => campaigns.tick());
    const alerts = every(30_000, leading, log, 'alert delivery', () => alerter.deliverPending());
    const sampling = every(deps.metricsSampleMs ?? 15_000, leading, log, 'metrics sampling', () => sampleMetrics({ bus, db, directory: deps.directory, log }));
    const periodic = (async () => {
      let lastReconcile = Date.now();
      let lastPurge = 0;
      await every(tickMs, leading, log, 'periodic dispatch work', async () => {
        await dispatcher.tick();
        if (Date.now() - lastReconcile >= reconcileMs) {
          lastReconcile = Date.now();
          await dispatcher.reconcile();
        }
        // Idempotency keys are kept 24 h; after that the admin may reuse them, and the rows go.
        if (Date.now() - lastPurge >= 60_000) {
          lastPurge = Date.now();
          const purged = await purgeExpiredIdempotencyKeys(db, clock());
          if (purged) log.info({ purged }, 'expired idempotency keys removed');
          await purgeWorkerRestarts(db, clock());
        }
      });
    })();
    await Promise.all([requests, faults, placement, review, alerts, periodic, expansion, sampling]);
    clearSamples();
    dispatcher.leadership = undefined;
    campaigns.leadership = undefined;
  }

  return {
    dispatcher,
    run: (signal) => runAsLeader(db, deps.instanceId, signal, log, lead, deps.leader),
  };
}
