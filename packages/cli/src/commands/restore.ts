import { createReadStream, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ensureBuckets, ensureStreams, updateRuntimeSettings } from '@postbus/bus';
import { bucketSpecs, streamName, streamSpecs, type RuntimeSettingsPatch, type StreamOptions } from '@postbus/contracts';
import { migrate, sql, type Database } from '@postbus/db';
import { derivedTables, primaryTables, readManifest, type BackupDeps, type BackupLine, type BackupManifest } from './backup.js';
import { rebuildProjections } from './projections.js';

export interface RestoreDeps extends BackupDeps {
  readonly streamOptions?: StreamOptions;
}

export interface RestoreSummary {
  readonly manifest: BackupManifest;
  readonly messages: number;
  readonly rows: number;
}

/**
 * Restores a `postbus backup` onto a fresh database and fresh streams, in the order that keeps
 * the platform safe: Postgres (migrated, then the primary rows), then the log, then the runtime
 * settings, then the read tables rebuilt from the restored log. Refuses a database or a stream
 * that already holds data: a restore never merges.
 */
export async function restoreAll(deps: RestoreDeps, dir: string): Promise<RestoreSummary> {
  const manifest = await readManifest(dir);
  await migrate(deps.db);
  const tables = await primaryTables(deps.db, derivedTables(deps.ns, deps.log));
  const missing = manifest.tables.filter((t) => !tables.includes(t.name));
  if (missing.length) throw new Error(`the database has no table ${missing.map((t) => t.name).join(', ')}: is it older than the backup?`);
  for (const t of ['deliveries', 'suppressions', 'secrets'].filter((n) => tables.includes(n))) {
    const [row] = await deps.db.query(sql`SELECT EXISTS (SELECT 1 FROM ${sql.ident(t)}) AS used`);
    if (row?.used) throw new Error(`the database is not fresh (${t} has rows): restore into an empty database`);
  }
  const specs = streamSpecs(deps.ns, deps.streamOptions);
  await ensureStreams(deps.bus, specs);
  for (const s of manifest.streams) {
    const info = await deps.bus.jsm.streams.info(streamName(deps.ns, s.base));
    if (info.state.messages > 0) throw new Error(`stream ${info.config.name} is not empty: restore onto fresh streams`);
  }

  const rows = await restoreTables(deps.db, dir, manifest, await insertOrder(deps.db, manifest.tables.map((t) => t.name)));
  let messages = 0;
  for (const s of manifest.streams) messages += await restoreStream(deps, dir, s.base, s.lastSeq);
  if (manifest.runtimeSettings) {
    await ensureBuckets(deps.bus, bucketSpecs(deps.ns, deps.streamOptions));
    const stored = JSON.parse(await readFile(path.join(dir, 'runtime-settings.json'), 'utf8')) as RuntimeSettingsPatch;
    await updateRuntimeSettings(deps.bus, stored);
  }
  await rebuildProjections({ db: deps.db, bus: deps.bus, ns: deps.ns, log: deps.log, ...(deps.onProgress ? { onProgress: deps.onProgress } : {}) });
  return { manifest, messages, rows };
}

/** Parents before children (foreign keys), otherwise by name. */
async function insertOrder(db: Database, names: readonly string[]): Promise<string[]> {
  const edges = await db.query(sql`
    SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent
    FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid <> c.confrelid`);
  const parents = new Map<string, Set<string>>(names.map((n) => [n, new Set<string>()]));
  for (const e of edges) parents.get(e.child as string)?.add(e.parent as string);
  const out: string[] = [];
  const visit = (n: string, seen: Set<string>) => {
    if (out.includes(n) || seen.has(n) || !parents.has(n)) return;
    seen.add(n);
    for (const p of parents.get(n)!) visit(p, seen);
    out.push(n);
  };
  for (const n of [...names].sort()) visit(n, new Set());
  return out;
}

async function restoreTables(db: Database, dir: string, manifest: BackupManifest, order: readonly string[]): Promise<number> {
  let total = 0;
  await db.tx(async (tx) => {
    // Rows a migration seeded are replaced by the backup's.
    await tx.query(sql`TRUNCATE ${sql.join(order.map((t) => sql.ident(t)), sql`, `)} CASCADE`);
    for (const table of order) {
      let batch: string[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        await tx.query(sql`INSERT INTO ${sql.ident(table)} SELECT * FROM json_populate_recordset(NULL::${sql.ident(table)}, ${`[${batch.join(',')}]`}::json)`);
        total += batch.length;
        batch = [];
      };
      for await (const line of lines(path.join(dir, 'tables', `${table}.jsonl`))) {
        batch.push(line);
        if (batch.length >= 500) await flush();
      }
      await flush();
    }
    // Serial columns continue after the restored rows.
    const serials = await tx.query(sql`
      SELECT table_name AS t, column_name AS c FROM information_schema.columns
      WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%'`);
    for (const s of serials.filter((x) => order.includes(x.t as string))) {
      await tx.query(sql`SELECT setval(pg_get_serial_sequence(${s.t as string}, ${s.c as string}), COALESCE(max(${sql.ident(s.c as string)}), 0) + 1, false) FROM ${sql.ident(s.t as string)}`);
    }
  });
  const expected = manifest.tables.reduce((n, t) => n + t.rows, 0);
  if (total !== expected) throw new Error(`restored ${total} rows, the backup says ${expected}`);
  return total;
}

/** Republishes a stream's messages in order, each with its event id as Nats-Msg-Id. */
async function restoreStream(deps: RestoreDeps, dir: string, base: BackupManifest['streams'][number]['base'], lastSeq: number): Promise<number> {
  const file = path.join(dir, 'streams', `${base}.jsonl`);
  if (!existsSync(file)) return 0;
  const name = streamName(deps.ns, base);
  const prefix = deps.ns.prefix ? `${deps.ns.prefix}.` : '';
  let count = 0;
  let window: Array<Promise<unknown>> = [];
  deps.onProgress?.({ projection: 'restore', stream: name, position: 0, target: lastSeq });
  for await (const text of lines(file)) {
    const line = JSON.parse(text) as BackupLine;
    const id = eventId(line.data);
    // Published from one connection, in order: the stream stores them in this order.
    window.push(deps.bus.js.publish(`${prefix}${line.subject}`, line.data, { ...(id ? { msgID: id } : {}), expect: { streamName: name } }));
    count++;
    if (window.length >= 256) {
      await Promise.all(window);
      window = [];
      deps.onProgress?.({ projection: 'restore', stream: name, position: line.seq, target: lastSeq });
    }
  }
  await Promise.all(window);
  deps.onProgress?.({ projection: 'restore', stream: name, position: lastSeq, target: lastSeq });
  return count;
}

function eventId(data: string): string | undefined {
  try {
    const id = (JSON.parse(data) as { id?: unknown }).id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

async function* lines(file: string): AsyncGenerator<string> {
  if (!existsSync(file)) return;
  const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of rl) if (line.length > 0) yield line;
}
