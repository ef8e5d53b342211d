import { readLog, type Bus } from '@postbus/bus';
import { decodeEvent, isMailBatch, PostbusError, singlesOf, type Namespace, type PostbusEvent } from '@postbus/contracts';
import { ensureProjectionTables, sql, traceBatch, type Database, type Projection, type RebuildProgress, type RunnerLog, type StoredMessage } from '@postbus/db';
import { allProjections } from '@postbus/projector';
import type { TextOut } from '../progress.js';
import { baseOf, planReplay, streamOf, type ReplayFlags, type ReplayPlan } from './replay-options.js';

export interface ReplayDeps {
  readonly bus: Bus;
  readonly ns: Namespace;
  readonly log: RunnerLog;
  readonly stdout: TextOut;
  readonly stderr: TextOut;
  /** Needed only with `--into`. */
  readonly db?: () => Database;
  readonly onProgress?: (p: RebuildProgress) => void;
  readonly now?: Date;
  readonly batchSize?: number;
}

export interface ReplaySummary {
  /** Messages read from the streams (after the server-side filter). */
  readonly read: number;
  /** Events written to stdout, or applied to the projection. */
  readonly replayed: number;
  /** Messages that did not decode (reported on stderr, never written or applied). */
  readonly invalid: number;
}

/**
 * Reads the log in order — per stream, through an ephemeral ordered consumer starting at
 * `since` — and writes each valid event that passes the filters to stdout as a JSON line, or
 * re-applies them to one projection's tables while holding that projection's advisory lock.
 * Re-applying is a repair, not a rebuild: rows are keyed by event id and newer states win, and
 * the projection's checkpoint is left where the live projector has it.
 */
export async function replayEvents(deps: ReplayDeps, flags: ReplayFlags): Promise<ReplaySummary> {
  const projection = flags.into !== undefined ? findProjection(deps, flags.into) : undefined;
  const plan = planReplay(deps.ns, flags, deps.now ?? new Date(), projection?.streams.map((s) => baseOf(deps.ns, s)));
  const totals = { read: 0, replayed: 0, invalid: 0 };
  const label = projection ? `replay→${projection.name}` : 'replay';
  const each = async (sink: (batch: StoredMessage[]) => Promise<void>) => {
    for (const base of plan.streams) {
      const stream = streamOf(deps.ns, base);
      const target = (await deps.bus.jsm.streams.info(stream)).state.last_seq;
      deps.onProgress?.({ projection: label, stream, position: 0, target });
      if (target > 0) await replayStream(deps, plan, stream, target, totals, sink, label);
      deps.onProgress?.({ projection: label, stream, position: target, target });
    }
  };
  if (!projection) {
    await each(async () => undefined);
    return totals;
  }
  const db = deps.db?.();
  if (!db) throw new Error('replay --into needs the database');
  await db.task(async (conn) => {
    // The live projector takes the same lock for every batch: it waits while we write.
    await conn.query(sql`SELECT pg_advisory_lock(${projection.lockKey})`);
    try {
      await conn.tx((tx) => ensureProjectionTables(tx, projection));
      // Each replayed event's span starts a trace of its own, linked to the one it was published in.
      await each((batch) => traceBatch(`projection ${projection.name} replay`, batch, 'link', () => conn.tx((tx) => projection.apply(tx, batch))));
    } finally {
      await conn.query(sql`SELECT pg_advisory_unlock(${projection.lockKey})`);
    }
  });
  return totals;
}

async function replayStream(
  deps: ReplayDeps,
  plan: ReplayPlan,
  stream: string,
  target: number,
  totals: { read: number; replayed: number; invalid: number },
  sink: (batch: StoredMessage[]) => Promise<void>,
  label: string,
): Promise<void> {
  const filter = plan.filterOf(baseOf(deps.ns, stream));
  const batchSize = deps.batchSize ?? 500;
  let batch: StoredMessage[] = [];
  const flush = async () => {
    if (plan.into === undefined || batch.length === 0) return;
    await sink(batch);
    batch = [];
  };
  for await (const m of readLog(deps.bus, { stream, ...(filter ? { filterSubject: filter } : {}), ...(plan.since ? { since: plan.since } : {}) })) {
    if (plan.until && m.time > plan.until) break; // stored times only grow along a stream
    if (m.seq > target) break; // written after the replay began
    totals.read++;
    let event: PostbusEvent;
    try {
      event = decodeEvent(m.data);
    } catch (err) {
      totals.invalid++;
      deps.stderr.write(`invalid event ${stream} #${m.seq} ${m.subject}: ${(err as Error).message}\n`);
      continue;
    }
    deps.onProgress?.({ projection: label, stream, position: m.seq, target });
    if (plan.accountId !== undefined && !filter && event.accountId !== plan.accountId) continue;
    const events = selected(event, plan.types);
    if (events.length === 0) continue;
    totals.replayed += events.length;
    if (plan.into === undefined) {
      for (const e of events) deps.stdout.write(`${JSON.stringify({ stream, seq: m.seq, subject: m.subject, time: m.time.toISOString(), event: e })}\n`);
    } else {
      batch.push({ stream, seq: m.seq, subject: m.subject, data: m.data, ...(m.trace ? { trace: m.trace } : {}) });
      if (batch.length >= batchSize) await flush();
    }
  }
  await flush();
}

/**
 * What a stored event gives a replay filtered by `types`: itself, or nothing. An account's sends
 * stored as one EmailsSent answer for `--type EmailSent` as the EmailSent each stands for (same
 * id, time and data), so a replay of sends finds every send however the sender recorded it; the
 * same for queueings stored as one EmailsQueued and `--type EmailQueued`.
 */
function selected(event: PostbusEvent, types: ReadonlySet<string> | undefined): PostbusEvent[] {
  if (!types || types.has(event.type)) return [event];
  if (!isMailBatch(event)) return [];
  const singles = singlesOf(event);
  return types.has(singles[0]!.type) ? singles : [];
}

function findProjection(deps: ReplayDeps, name: string): Projection {
  const known = allProjections(deps.ns, { log: deps.log });
  const p = known.find((x) => x.name === name);
  if (!p) throw new PostbusError('unknown_projection', `unknown projection ${name} (known: ${known.map((x) => x.name).join(', ')})`, { status: 400 });
  return p;
}
