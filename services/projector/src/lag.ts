import { sleep } from '@postbus/bus';
import type { StreamReader } from '@postbus/contracts';
import { sql, type Database, type Projection } from '@postbus/db';
import { metrics } from '@postbus/telemetry';

/** Projection lag for /metrics: each stream's last sequence minus the projection's checkpoint on it. */
export async function sampleProjectionLag(db: Database, reader: StreamReader, projections: readonly Projection[]): Promise<void> {
  const rows = await db.query(sql`SELECT projection, stream, position FROM projection_checkpoints`);
  const at = new Map<string, Map<string, number>>();
  for (const r of rows) {
    const byStream = at.get(r.projection as string) ?? new Map<string, number>();
    byStream.set(r.stream as string, Number(r.position));
    at.set(r.projection as string, byStream);
  }
  for (const p of projections) {
    for (const stream of p.streams) {
      const last = await reader.lastSeq(stream);
      metrics.projectionLag.labels(p.name, stream).set(Math.max(0, last - (at.get(p.name)?.get(stream) ?? 0)));
    }
  }
}

/** Samples until the signal aborts; a failed sample (Postgres or NATS away) keeps the last values. */
export async function sampleLagEvery(ms: number, db: Database, reader: StreamReader, projections: readonly Projection[], signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    await sampleProjectionLag(db, reader, projections).catch(() => undefined);
    await sleep(ms, signal);
  }
}
