import { streamReader, type Bus } from '@postbus/bus';
import { PostbusError, type Namespace } from '@postbus/contracts';
import { rebuildProjection, type Database, type RebuildProgress, type RunnerLog } from '@postbus/db';
import { allProjections } from '@postbus/projector';

export interface RebuildOptions {
  readonly db: Database;
  readonly bus: Bus;
  readonly ns: Namespace;
  readonly log: RunnerLog;
  /** Projection names; every projection when absent or empty. */
  readonly names?: readonly string[];
  readonly batchSize?: number;
  readonly onProgress?: (p: RebuildProgress) => void;
}

export interface RebuildSummary {
  readonly projection: string;
  readonly streams: ReadonlyArray<{ readonly stream: string; readonly position: number }>;
  readonly ms: number;
}

/**
 * Drops each projection's tables and replays its streams, one projection after another.
 * Primary tables are never touched: a projection only drops the tables it declares.
 */
export async function rebuildProjections(opts: RebuildOptions): Promise<RebuildSummary[]> {
  const known = allProjections(opts.ns, { log: opts.log });
  const wanted = opts.names?.length ? opts.names : known.map((p) => p.name);
  const unknown = wanted.filter((n) => !known.some((p) => p.name === n));
  if (unknown.length) {
    throw new PostbusError('unknown_projection', `unknown projection ${unknown.join(', ')} (known: ${known.map((p) => p.name).join(', ')})`, { status: 400 });
  }
  const reader = streamReader(opts.bus);
  const summaries: RebuildSummary[] = [];
  for (const p of known.filter((x) => wanted.includes(x.name))) {
    const started = performance.now();
    const positions = new Map<string, number>(p.streams.map((s) => [s, 0]));
    opts.log.info({ projection: p.name, streams: p.streams }, 'rebuilding projection');
    await rebuildProjection(opts.db, reader, p, {
      ...(opts.batchSize ? { batchSize: opts.batchSize } : {}),
      onProgress: (progress) => {
        positions.set(progress.stream, progress.position);
        opts.onProgress?.(progress);
      },
    });
    const summary = { projection: p.name, streams: [...positions].map(([stream, position]) => ({ stream, position })), ms: Math.round(performance.now() - started) };
    opts.log.info(summary, 'projection rebuilt');
    summaries.push(summary);
  }
  return summaries;
}
