import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readLog, readRuntimeSettings, type Bus } from '@postbus/bus';
import { streamName, type Namespace, type StreamBase } from '@postbus/contracts';
import { sql, type Database, type Queryable, type RebuildProgress, type RunnerLog } from '@postbus/db';
import { allProjections } from '@postbus/projector';

/**
 * A logical backup: the log streams as JSON lines (subjects without the namespace, payloads as
 * stored), the runtime settings, and the primary Postgres tables as JSON rows. Read tables are
 * not kept: a restore rebuilds them from the restored log. Secrets stay encrypted; the master
 * keys are never part of it.
 */
export const LOG_STREAMS: readonly StreamBase[] = ['ACCOUNTS', 'CAMPAIGNS', 'SPONSORS', 'SUPPRESSION', 'MAIL', 'TRACKING', 'REQUESTS', 'OPS'];
export const BACKUP_FORMAT = 'postbus-backup/1';

export interface BackupManifest {
  readonly format: typeof BACKUP_FORMAT;
  readonly createdAt: string;
  readonly streams: ReadonlyArray<{ readonly base: StreamBase; readonly messages: number; readonly lastSeq: number }>;
  readonly tables: ReadonlyArray<{ readonly name: string; readonly rows: number }>;
  readonly runtimeSettings: boolean;
}

/** One stored message in `streams/<BASE>.jsonl`. */
export interface BackupLine {
  readonly seq: number;
  /** Without the namespace prefix. */
  readonly subject: string;
  readonly time: string;
  /** The payload as stored (an event's JSON). */
  readonly data: string;
}

export interface BackupDeps {
  readonly bus: Bus;
  readonly db: Database;
  readonly ns: Namespace;
  readonly log: RunnerLog;
  readonly onProgress?: (p: RebuildProgress) => void;
}

/** The tables a rebuild recreates, and bookkeeping a restore recreates: never backed up. */
export function derivedTables(ns: Namespace, log: RunnerLog): Set<string> {
  return new Set([...allProjections(ns, { log }).flatMap((p) => p.tables), 'projection_checkpoints', 'schema_migrations']);
}

export async function primaryTables(db: Queryable, derived: ReadonlySet<string>): Promise<string[]> {
  const rows = await db.query(sql`
    SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`);
  return rows.map((r) => r.name as string).filter((n) => !derived.has(n));
}

/** Streams first, then Postgres: a database newer than the log is the safe side (docs/operations.md). */
export async function backupAll(deps: BackupDeps, dir: string): Promise<BackupManifest> {
  await mkdir(path.join(dir, 'streams'), { recursive: true, mode: 0o700 });
  await mkdir(path.join(dir, 'tables'), { recursive: true, mode: 0o700 });
  const prefix = deps.ns.prefix ? `${deps.ns.prefix}.` : '';
  const streams: Array<BackupManifest['streams'][number]> = [];
  for (const base of LOG_STREAMS) {
    const name = streamName(deps.ns, base);
    const lastSeq = (await deps.bus.jsm.streams.info(name)).state.last_seq;
    const file = await open(path.join(dir, 'streams', `${base}.jsonl`), 'w', 0o600);
    let messages = 0;
    try {
      deps.onProgress?.({ projection: 'backup', stream: name, position: 0, target: lastSeq });
      let chunk = '';
      if (lastSeq > 0) {
        for await (const m of readLog(deps.bus, { stream: name })) {
          if (m.seq > lastSeq) break;
          const line: BackupLine = { seq: m.seq, subject: m.subject.slice(prefix.length), time: m.time.toISOString(), data: Buffer.from(m.data).toString('utf8') };
          chunk += `${JSON.stringify(line)}\n`;
          messages++;
          if (chunk.length > 1 << 20) {
            await file.write(chunk);
            chunk = '';
            deps.onProgress?.({ projection: 'backup', stream: name, position: m.seq, target: lastSeq });
          }
        }
      }
      await file.write(chunk);
      deps.onProgress?.({ projection: 'backup', stream: name, position: lastSeq, target: lastSeq });
    } finally {
      await file.close();
    }
    streams.push({ base, messages, lastSeq });
  }
  const settings = await readRuntimeSettings(deps.bus).catch(() => ({ stored: {}, revision: 0 }));
  if (settings.revision > 0) await writeFile(path.join(dir, 'runtime-settings.json'), JSON.stringify(settings.stored), { mode: 0o600 });

  const tables: Array<BackupManifest['tables'][number]> = [];
  // One snapshot for every table: rows that refer to each other stay consistent.
  await deps.db.tx(async (tx) => {
    await tx.query(sql`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY`);
    for (const name of await primaryTables(tx, derivedTables(deps.ns, deps.log))) {
      const file = await open(path.join(dir, 'tables', `${name}.jsonl`), 'w', 0o600);
      let rows = 0;
      try {
        let chunk = '';
        for await (const r of tx.queryStream(sql`SELECT row_to_json(t)::text AS j FROM ${sql.ident(name)} t`, { batchSize: 1_000 })) {
          chunk += `${r.j as string}\n`;
          rows++;
          if (chunk.length > 1 << 20) {
            await file.write(chunk);
            chunk = '';
          }
        }
        await file.write(chunk);
      } finally {
        await file.close();
      }
      tables.push({ name, rows });
    }
  });
  const manifest: BackupManifest = { format: BACKUP_FORMAT, createdAt: new Date().toISOString(), streams, tables, runtimeSettings: settings.revision > 0 };
  await writeFile(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  return manifest;
}

export async function readManifest(dir: string): Promise<BackupManifest> {
  const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as BackupManifest;
  if (manifest.format !== BACKUP_FORMAT) throw new Error(`${dir} is not a Postbus backup (format ${String(manifest.format)})`);
  return manifest;
}
