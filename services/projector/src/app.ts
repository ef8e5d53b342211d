import { sleep } from '@postbus/bus';
import type { Namespace, StreamReader } from '@postbus/contracts';
import { runProjection, type Database, type Projection, type RunnerLog, type RunnerOptions } from '@postbus/db';
import { sampleLagEvery } from './lag.js';
import type { ProjectionOptions } from './options.js';
import { accountsProjection } from './projections/accounts.js';
import { mailProjection } from './projections/mail.js';
import { trackingProjection } from './projections/tracking.js';

/** Every projection the projector runs and `postbus projections rebuild` knows, in rebuild order. */
export function allProjections(ns: Namespace, opts: ProjectionOptions = {}): Projection[] {
  return [accountsProjection(ns, opts), mailProjection(ns, opts), trackingProjection(ns, opts)];
}

export interface ProjectorDeps {
  readonly db: Database;
  readonly reader: StreamReader;
  readonly ns: Namespace;
  readonly log: RunnerLog;
  readonly batchSize?: number;
  readonly waitMs?: number;
  readonly onBatch?: RunnerOptions['onBatch'];
  /** How often projection lag is sampled for /metrics (default 5 s; 0: never). */
  readonly lagSampleMs?: number;
}

export interface Projector {
  readonly projections: readonly Projection[];
  /** Follows every stream of every projection until the signal aborts. */
  start(signal: AbortSignal): Promise<void>;
}

export function buildProjector(deps: ProjectorDeps): Projector {
  const projections = allProjections(deps.ns, { log: deps.log });
  const options: RunnerOptions = {
    log: deps.log,
    ...(deps.batchSize !== undefined ? { batchSize: deps.batchSize } : {}),
    ...(deps.waitMs !== undefined ? { waitMs: deps.waitMs } : {}),
    ...(deps.onBatch ? { onBatch: deps.onBatch } : {}),
  };
  return {
    projections,
    async start(signal) {
      const lagMs = deps.lagSampleMs ?? 5_000;
      const lag = lagMs > 0 ? sampleLagEvery(lagMs, deps.db, deps.reader, projections, signal) : Promise.resolve();
      await Promise.all([...projections.map((p) => keepRunning(deps, p, signal, options)), lag]);
    },
  };
}

/** runProjection retries batches itself; this covers its start (tables created while Postgres is away). */
async function keepRunning(deps: ProjectorDeps, p: Projection, signal: AbortSignal, options: RunnerOptions): Promise<void> {
  while (!signal.aborted) {
    try {
      await runProjection(deps.db, deps.reader, p, signal, options);
      return;
    } catch (err) {
      if (signal.aborted) return;
      deps.log.warn({ err, projection: p.name }, 'projection could not start; retrying');
      await sleep(1_000, signal);
    }
  }
}
