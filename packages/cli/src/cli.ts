import { connectBus, type Bus } from '@postbus/bus';
import { loadConfig, type PostbusConfig } from '@postbus/config';
import type { Namespace } from '@postbus/contracts';
import { connectDatabase, type Database } from '@postbus/db';
import { createLogger, type Logger } from '@postbus/telemetry';
import { parseArgs, type ParsedArgs } from './args.js';
import { classifyFiles } from './commands/classify.js';
import { runDemo } from './commands/demo/index.js';
import { rotateKeys } from './commands/keys.js';
import { migrateDatabase } from './commands/migrate.js';
import { rebuildProjections } from './commands/projections.js';
import { replayEvents } from './commands/replay.js';
import { backupAll } from './commands/backup.js';
import { restoreAll } from './commands/restore.js';
import { ReplayUsageError } from './commands/replay-options.js';
import { progressPrinter, type TextOut } from './progress.js';

export interface CliIo {
  readonly stdout: TextOut;
  readonly stderr: TextOut;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** What a command gets: its arguments and clients made on first use (and closed after it). */
export interface CommandContext {
  readonly io: CliIo;
  /** Positionals after the command's words, and the flags. */
  readonly args: ParsedArgs;
  config(): PostbusConfig;
  ns(): Namespace;
  log(): Logger;
  db(): Database;
  bus(): Promise<Bus>;
}

export interface Command {
  /** The words that name it: `['projections', 'rebuild']`. */
  readonly path: readonly string[];
  readonly usage: string;
  readonly summary: string;
  /** Returns the exit code (0 when nothing is returned). */
  run(ctx: CommandContext): Promise<number | void>;
}

export class UsageError extends Error {}

const rebuild: Command = {
  path: ['projections', 'rebuild'],
  usage: 'projections rebuild [name...]',
  summary: 'drop the read tables of the named projections (all by default) and replay the log into them',
  async run(ctx) {
    const started = performance.now();
    const summaries = await rebuildProjections({
      db: ctx.db(),
      bus: await ctx.bus(),
      ns: ctx.ns(),
      log: ctx.log(),
      names: ctx.args.positionals,
      batchSize: ctx.config().projector.batchSize,
      onProgress: progressPrinter(ctx.io.stderr),
    });
    for (const s of summaries) {
      const streams = s.streams.map((x) => `${x.stream} ${x.position}`).join(', ');
      ctx.io.stderr.write(`rebuilt ${s.projection}: ${streams} in ${(s.ms / 1000).toFixed(1)} s\n`);
    }
    ctx.io.stderr.write(`rebuilt ${summaries.length} projection(s) in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  },
};

const REPLAY_FLAGS = ['stream', 'subject', 'account', 'type', 'since', 'until', 'into'] as const;

const replayCommand: Command = {
  path: ['replay'],
  usage: 'replay [--stream S] [--subject SUBJ] [--account ID] [--type T,...] [--since T] [--until T] [--into PROJECTION]',
  summary: 'read events from the log in order: JSON lines on stdout, or re-applied to one projection (--into); exits 1 if any did not decode',
  async run(ctx) {
    const flags: Record<string, string> = {};
    for (const name of REPLAY_FLAGS) {
      const v = ctx.args.flags[name];
      if (v === true) throw new UsageError(`--${name} needs a value`);
      if (v !== undefined) flags[name] = v;
    }
    const started = performance.now();
    try {
      const summary = await replayEvents(
        {
          bus: await ctx.bus(),
          ns: ctx.ns(),
          log: ctx.log(),
          stdout: ctx.io.stdout,
          stderr: ctx.io.stderr,
          db: () => ctx.db(),
          onProgress: progressPrinter(ctx.io.stderr),
        },
        flags,
      );
      const what = flags.into ? `applied to ${flags.into}` : 'written';
      ctx.io.stderr.write(`replayed ${summary.replayed} event(s) ${what} of ${summary.read} read, ${summary.invalid} invalid, in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
      return summary.invalid > 0 ? 1 : 0;
    } catch (err) {
      if (err instanceof ReplayUsageError) throw new UsageError(err.message);
      throw err;
    }
  },
};

const backupCommand: Command = {
  path: ['backup'],
  usage: 'backup --out DIR',
  summary: 'write the log streams, the runtime settings and the primary tables to DIR (read tables are rebuilt on restore)',
  async run(ctx) {
    const out = ctx.args.flags.out;
    if (typeof out !== 'string' || out.length === 0) throw new UsageError('backup needs --out DIR');
    const m = await backupAll({ bus: await ctx.bus(), db: ctx.db(), ns: ctx.ns(), log: ctx.log(), onProgress: progressPrinter(ctx.io.stderr) }, out);
    const messages = m.streams.reduce((n, s) => n + s.messages, 0);
    const rows = m.tables.reduce((n, t) => n + t.rows, 0);
    ctx.io.stdout.write(`backed up ${messages} event(s) from ${m.streams.length} streams and ${rows} row(s) from ${m.tables.length} tables to ${out}\n`);
  },
};

const restoreCommand: Command = {
  path: ['restore'],
  usage: 'restore DIR',
  summary: 'restore a backup onto an empty database and empty streams, then rebuild the projections (start no service before it ends)',
  async run(ctx) {
    const [dir] = ctx.args.positionals;
    if (!dir) throw new UsageError('restore needs the backup directory');
    const config = ctx.config();
    const r = await restoreAll(
      {
        bus: await ctx.bus(),
        db: ctx.db(),
        ns: ctx.ns(),
        log: ctx.log(),
        onProgress: progressPrinter(ctx.io.stderr),
        streamOptions: { replicas: config.streamReplicas, logRetentionDays: config.logRetentionDays },
      },
      dir,
    );
    ctx.io.stdout.write(`restored ${r.messages} event(s) and ${r.rows} row(s) from ${dir} (taken ${r.manifest.createdAt})\n`);
  },
};

const migrateCommand: Command = {
  path: ['migrate'],
  usage: 'migrate',
  summary: 'apply the database migrations not yet applied',
  async run(ctx) {
    const applied = await migrateDatabase({ db: ctx.db() });
    ctx.io.stdout.write(applied.length ? `applied ${applied.join(', ')}\n` : 'nothing to apply\n');
  },
};

const demoCommand: Command = {
  path: ['demo'],
  usage: 'demo [--exit]',
  summary: 'run the platform on this machine, send 5 messages to an SMTP catcher (.demo/mail) and say where to look; --exit stops afterwards',
  run: (ctx) => runDemo({ env: ctx.io.env, stdout: ctx.io.stdout, stderr: ctx.io.stderr, exitWhenDone: ctx.args.flags.exit === true }),
};

const classifyCommand: Command = {
  path: ['classify'],
  usage: 'classify FILE...',
  summary: 'read bounce, complaint and auto-reply mails (.eml) and print one JSON line per recipient',
  run(ctx) {
    if (ctx.args.positionals.length === 0) throw new UsageError('classify needs at least one file');
    return classifyFiles({ files: ctx.args.positionals, stdout: ctx.io.stdout, stderr: ctx.io.stderr });
  },
};

const keysRotate: Command = {
  path: ['keys', 'rotate'],
  usage: 'keys rotate --to KEY_ID',
  summary: 're-encrypt every stored secret under KEY_ID (already in POSTBUS_MASTER_KEYS), row by row, while services run',
  async run(ctx) {
    const to = ctx.args.flags.to;
    if (typeof to !== 'string' || to.length === 0) throw new UsageError('keys rotate needs --to KEY_ID');
    const { masterKeys, masterKeysDir } = ctx.config().secrets;
    const summary = await rotateKeys({ db: ctx.db(), keys: { masterKeys, masterKeysDir, masterKeyId: to }, to, stdout: ctx.io.stdout, stderr: ctx.io.stderr });
    return summary.failed.length > 0 ? 1 : 0;
  },
};

const help: Command = {
  path: ['help'],
  usage: 'help',
  summary: 'show this help',
  async run(ctx) {
    ctx.io.stdout.write(helpText(commands));
  },
};

/** The command table: a new command is one more entry. */
export const commands: Command[] = [rebuild, replayCommand, backupCommand, restoreCommand, migrateCommand, keysRotate, demoCommand, classifyCommand, help];

export function helpText(table: readonly Command[]): string {
  const width = Math.max(...table.map((c) => c.usage.length));
  return `usage: postbus <command>\n\n${table.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`).join('\n')}\n\nConfiguration comes from POSTBUS_* environment variables.\n`;
}

/** Finds the command whose words begin the positionals (the longest match wins). */
export function findCommand(table: readonly Command[], positionals: readonly string[]): Command | undefined {
  return [...table]
    .sort((a, b) => b.path.length - a.path.length)
    .find((c) => c.path.every((word, i) => positionals[i] === word));
}

/** Flags that take the next argument as their value (`--to k2`). */
const VALUED_FLAGS: ReadonlySet<string> = new Set(['to', 'stream', 'subject', 'account', 'type', 'since', 'until', 'into', 'out']);

export async function runCli(argv: readonly string[], io: CliIo, table: readonly Command[] = commands): Promise<number> {
  const parsed = parseArgs(argv, VALUED_FLAGS);
  const command = parsed.positionals.length === 0 || parsed.flags.help ? table.find((c) => c.path[0] === 'help') : findCommand(table, parsed.positionals);
  if (!command) {
    io.stderr.write(`postbus: unknown command "${parsed.positionals.join(' ')}"\n\n${helpText(table)}`);
    return 2;
  }
  const opened: Array<() => Promise<void>> = [];
  let config: PostbusConfig | undefined;
  let log: Logger | undefined;
  let db: Database | undefined;
  let bus: Promise<Bus> | undefined;
  const ctx: CommandContext = {
    io,
    args: { positionals: parsed.positionals.slice(command.path.length), flags: parsed.flags },
    config: () => (config ??= loadConfig(io.env)),
    ns: () => ({ prefix: ctx.config().namespace }),
    log: () => (log ??= createLogger({ service: 'postbus-cli', level: ctx.config().logLevel, destination: io.stderr })),
    db: () => {
      if (!db) {
        const made = connectDatabase({ url: ctx.config().databaseUrl, applicationName: 'postbus-cli', poolSize: 2 });
        opened.push(() => made.dispose());
        db = made;
      }
      return db;
    },
    bus: () => {
      if (!bus) {
        bus = connectBus({ servers: ctx.config().natsServers, name: 'postbus-cli', namespace: ctx.ns() });
        opened.push(async () => (await bus!).close());
      }
      return bus;
    },
  };
  try {
    return (await command.run(ctx)) ?? 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`postbus: ${err.message}\nusage: postbus ${command.usage}\n`);
      return 2;
    }
    io.stderr.write(`postbus ${command.path.join(' ')}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    for (const close of opened.reverse()) await close().catch(() => undefined);
  }
}
