import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';
import { connectBus, ensureBuckets, ensureStreams } from '@postbus/bus';
import { loadConfig, type PostbusConfig } from '@postbus/config';
import { bucketSpecs, streamSpecs } from '@postbus/contracts';
import { FINAL_STATES, connectDatabase, migrate, sql, type DeliveryState } from '@postbus/db';
import type { TextOut } from '../progress.js';

/**
 * `postbus demo`: the whole platform on this machine — the four services as processes, an
 * SMTP catcher that writes every message to a file, one account, five messages — and a
 * summary of where to look. Ctrl-C (or SIGTERM) stops everything; `--exit` stops at once.
 */

export const NATS_START_COMMAND =
  'start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log';
export const POSTGRES_START_COMMAND = 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start';
export const DEMO_DATABASE_URL = 'postgres://root@127.0.0.1:5432/postbus_demo';
export const DEMO_NAMESPACE = 'demo';
export const DEMO_FROM = 'demo@postbus.test';
const SERVICES = ['admin', 'orchestrator', 'sender', 'projector'] as const;
type ServiceName = (typeof SERVICES)[number];
const SECRET_KEYS = ['POSTBUS_MASTER_KEYS', 'POSTBUS_JWT_SECRET', 'POSTBUS_ADMIN_PASSWORD'] as const;
const ACCOUNT_NAME = 'Postbus demo (SMTP catcher)';
const RECIPIENTS = [
  ['Ada', 'ada@example.test'],
  ['Grace', 'grace@example.test'],
  ['Edsger', 'edsger@example.test'],
  ['Barbara', 'barbara@example.test'],
  ['Alan', 'alan@example.test'],
] as const;

export interface DemoOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: TextOut;
  readonly stderr: TextOut;
  /** Stop once the mail is sent and the summary printed, instead of waiting for Ctrl-C. */
  readonly exitWhenDone?: boolean;
  /** The repository (services/<name>/dist/main.js live under it). Default: found from this file. */
  readonly root?: string;
  /** Where SIGINT/SIGTERM come from; returns an unsubscribe. Default: this process. */
  readonly onSignal?: (handler: (signal: string) => void) => () => void;
  readonly adminReadyTimeoutMs?: number;
  readonly sentTimeoutMs?: number;
}

/** packages/cli/{src,dist}/commands/demo.{ts,js} → the repository. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

class Interrupted extends Error {
  constructor(readonly signal: string) {
    super(`interrupted by ${signal}`);
  }
}

class ServiceDied extends Error {
  constructor(
    readonly service: ServiceName,
    readonly code: number | null,
    readonly signal: string | null,
    readonly logPath: string,
  ) {
    super(`${service} exited unexpectedly (${code !== null ? `exit code ${code}` : `signal ${signal}`})`);
  }
}

/** An error that ends a poll at once instead of being retried. */
class Fatal extends Error {}

// ---------------------------------------------------------------- reachability

/** True when a TCP connection to host:port opens within timeoutMs. */
export function tcpReachable(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function natsEndpoint(server: string): { host: string; port: number } {
  const url = new URL(server.includes('://') ? server : `nats://${server}`);
  return { host: url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(url.port || 4222) };
}

/** The URL with its password hidden, for output. */
function safeUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error && err.cause.message && !err.message.includes(err.cause.message) ? ` (${err.cause.message})` : '';
  return `${err.message}${cause}`;
}

/**
 * NATS: a TCP connect to any of the servers, then a real connection with JetStream (which
 * also provisions the namespace's streams and buckets). Returns a problem text, or undefined.
 */
async function checkNats(config: PostbusConfig): Promise<string | undefined> {
  const endpoints = config.natsServers.map(natsEndpoint);
  const where = config.natsServers.join(', ');
  const reachable = await Promise.all(endpoints.map((e) => tcpReachable(e.host, e.port)));
  if (!reachable.some(Boolean)) {
    return `NATS is not reachable at ${where}. Start it (JetStream on) with:\n  ${NATS_START_COMMAND}`;
  }
  try {
    const ns = { prefix: config.namespace };
    const bus = await connectBus({ servers: config.natsServers, name: 'postbus-demo', namespace: ns, connectTimeoutMs: 3_000 });
    try {
      const opts = { replicas: config.streamReplicas, logRetentionDays: config.logRetentionDays };
      await ensureStreams(bus, streamSpecs(ns, opts));
      await ensureBuckets(bus, bucketSpecs(ns, opts));
    } finally {
      await bus.close();
    }
  } catch (err) {
    return `Something listens at ${where}, but it is not a working NATS server with JetStream: ${errorText(err)}\nStart NATS (JetStream on) with:\n  ${NATS_START_COMMAND}`;
  }
  return undefined;
}

/**
 * Postgres: a TCP connect, `SELECT 1` on the server's `postgres` database, CREATE DATABASE
 * when the demo's database is missing, then the migrations.
 */
async function checkPostgres(databaseUrl: string): Promise<{ problem?: string; created?: boolean }> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) return { problem: `POSTBUS_DATABASE_URL names no database: ${safeUrl(databaseUrl)}` };
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 5432);
  if (host && !(await tcpReachable(host, port))) {
    return { problem: `PostgreSQL is not reachable at ${host}:${port}. Start it with:\n  ${POSTGRES_START_COMMAND}` };
  }
  const adminUrl = new URL(databaseUrl);
  adminUrl.pathname = '/postgres';
  let created = false;
  const admin = connectDatabase({ url: adminUrl.toString(), applicationName: 'postbus-demo', poolSize: 1 });
  try {
    await admin.query(sql`SELECT 1`);
    const [exists] = await admin.query(sql`SELECT 1 AS one FROM pg_database WHERE datname = ${name}`);
    if (!exists) {
      try {
        await admin.query(sql`CREATE DATABASE ${sql.ident(name)}`);
        created = true;
      } catch (err) {
        // 42P04: someone else created it in the meantime
        if ((err as { code?: string }).code !== '42P04') throw err;
      }
    }
  } catch (err) {
    return { problem: `PostgreSQL at ${host || 'localhost'}:${port} is reachable but refused the demo: ${errorText(err)}` };
  } finally {
    await admin.dispose().catch(() => undefined);
  }
  const db = connectDatabase({ url: databaseUrl, applicationName: 'postbus-demo', poolSize: 1 });
  try {
    await migrate(db);
  } catch (err) {
    return { problem: `cannot migrate ${safeUrl(databaseUrl)}: ${errorText(err)}` };
  } finally {
    await db.dispose().catch(() => undefined);
  }
  return { created };
}

// ---------------------------------------------------------------- .demo state

interface DemoPaths {
  readonly dir: string;
  readonly envFile: string;
  readonly mail: string;
  readonly logs: string;
}

function demoPaths(dir: string): DemoPaths {
  const d = dir.replace(/\/+$/, '');
  return { dir: d, envFile: `${d}/env`, mail: `${d}/mail`, logs: `${d}/logs` };
}

/** `.demo/env`: made once, then reused, so that the demo database's encrypted secrets stay readable. */
function loadOrCreateSecrets(envFile: string): { secrets: Record<(typeof SECRET_KEYS)[number], string>; created: boolean } {
  const existing: Record<string, string> = {};
  if (existsSync(envFile)) {
    for (const line of readFileSync(envFile, 'utf8').split('\n')) {
      const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
      if (m) existing[m[1]!] = m[2]!.trim();
    }
  }
  const fresh: Record<(typeof SECRET_KEYS)[number], () => string> = {
    POSTBUS_MASTER_KEYS: () => `demo1:${randomBytes(32).toString('base64')}`,
    POSTBUS_JWT_SECRET: () => randomBytes(32).toString('base64'),
    POSTBUS_ADMIN_PASSWORD: () => randomBytes(12).toString('base64url'),
  };
  const missing = SECRET_KEYS.filter((k) => !existing[k]);
  const secrets = Object.fromEntries(SECRET_KEYS.map((k) => [k, existing[k] || fresh[k]()])) as Record<(typeof SECRET_KEYS)[number], string>;
  if (missing.length > 0) {
    const text = [
      '# Postbus demo: made once by `postbus demo` and reused on every run.',
      '# The SMTP passwords in the demo database are encrypted with this master key: keep the two together.',
      ...SECRET_KEYS.map((k) => `${k}=${secrets[k]}`),
      '',
    ].join('\n');
    writeFileSync(envFile, text, { mode: 0o600 });
  }
  return { secrets, created: missing.includes('POSTBUS_MASTER_KEYS') };
}

// ---------------------------------------------------------------- ports

function listenable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

async function pickPort(preferred: number, host: string): Promise<number> {
  if (preferred > 0 && (await listenable(preferred, host))) return preferred;
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

// ---------------------------------------------------------------- SMTP catcher

interface Catcher {
  readonly host: string;
  readonly port: number;
  /** The files written by this run, in order. */
  readonly files: string[];
  close(): Promise<void>;
}

/** Accepts any AUTH and any mail on 127.0.0.1 (2525 or the next free port) and writes each message to `<dir>/<time>-<n>.eml`. */
async function startCatcher(dir: string, preferredPort = 2525): Promise<Catcher> {
  const files: string[] = [];
  let n = 0;
  const server = new SMTPServer({
    name: 'postbus-demo-catcher',
    banner: 'Postbus demo SMTP catcher: every message is written to a file',
    logger: false,
    disableReverseLookup: true,
    disabledCommands: ['STARTTLS'],
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: true,
    allowInsecureAuth: true,
    closeTimeout: 1_000,
    onAuth(credentials, _session, callback) {
      callback(null, { user: credentials.username ?? '' });
    },
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.once('error', (err) => callback(err));
      stream.once('end', () => {
        const path = `${dir}/${new Date().toISOString().replace(/[:.]/g, '-')}-${++n}.eml`;
        writeFile(path, Buffer.concat(chunks)).then(
          () => {
            files.push(path);
            callback(null, `OK: written to ${path}`);
          },
          (err: Error) => callback(Object.assign(new Error(`4.3.0 cannot write the message: ${err.message}`), { responseCode: 451 })),
        );
      });
    },
  });
  server.on('error', () => {
    // a client's socket errors are the client's business
  });
  const tryListen = (port: number) =>
    new Promise<number | undefined>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(undefined) : reject(err));
      server.server.once('error', onError);
      server.listen(port, '127.0.0.1', () => {
        server.server.off('error', onError);
        const address = server.server.address();
        resolve(address && typeof address === 'object' ? address.port : undefined);
      });
    });
  let port: number | undefined;
  for (let p = preferredPort; p < preferredPort + 10 && port === undefined; p++) port = await tryListen(p);
  port ??= await tryListen(0);
  if (port === undefined) throw new Error('the SMTP catcher found no free port');
  let closed: Promise<void> | undefined;
  return {
    host: '127.0.0.1',
    port,
    files,
    close: () => (closed ??= new Promise<void>((resolve) => server.close(() => resolve()))),
  };
}

// ---------------------------------------------------------------- services

interface Running {
  readonly name: ServiceName;
  readonly child: ChildProcess;
  readonly logPath: string;
  readonly exited: Promise<void>;
}

/** The four services as child processes, each writing stdout and stderr to its own log file. */
class Services {
  private readonly running: Running[] = [];
  private stopping = false;

  constructor(
    private readonly root: string,
    private readonly logDir: string,
    private readonly onDeath: (err: ServiceDied) => void,
  ) {}

  start(name: ServiceName, env: Record<string, string | undefined>): void {
    const logPath = `${this.logDir}/${name}.log`;
    const fd = openSync(logPath, 'w');
    let child: ChildProcess;
    try {
      // Its own process group: Ctrl-C reaches only the demo, which then stops the services in order.
      child = spawn(process.execPath, [`${this.root}services/${name}/dist/main.js`], { env, stdio: ['ignore', fd, fd], detached: true });
    } finally {
      closeSync(fd);
    }
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        if (!this.stopping) this.onDeath(new ServiceDied(name, code, signal, logPath));
        resolve();
      });
      child.once('error', () => {
        if (!this.stopping) this.onDeath(new ServiceDied(name, null, 'spawn error', logPath));
        resolve();
      });
    });
    this.running.push({ name, child, logPath, exited });
  }

  get pids(): number[] {
    return this.running.map((r) => r.child.pid).filter((p): p is number => p !== undefined);
  }

  /** SIGTERM to every service, then wait; SIGKILL whatever still runs after graceMs. */
  async stop(graceMs = 15_000): Promise<void> {
    this.stopping = true;
    const alive = this.running.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
    for (const r of alive) r.child.kill('SIGTERM');
    const timer = setTimeout(() => this.kill(), graceMs);
    await Promise.all(alive.map((r) => r.exited));
    clearTimeout(timer);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.stopping = true;
    for (const r of this.running) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill(signal);
  }
}

function tail(path: string, lines = 30): string {
  try {
    const text = readFileSync(path, 'utf8').trimEnd();
    return text ? text.split('\n').slice(-lines).join('\n') : '(empty)';
  } catch {
    return '(no log)';
  }
}

// ---------------------------------------------------------------- admin API

class Admin {
  token = '';
  constructor(
    readonly baseUrl: string,
    private readonly signal: AbortSignal,
  ) {}

  async request(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      signal: this.signal,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed };
  }

  async expect(status: number, method: string, path: string, body?: unknown): Promise<any> {
    const res = await this.request(method, path, body);
    if (res.status !== status) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body;
  }
}

// ---------------------------------------------------------------- the demo

export async function runDemo(o: DemoOptions): Promise<number> {
  const out = (line = '') => void o.stdout.write(`${line}\n`);
  const err = (line: string) => void o.stderr.write(`${line}\n`);
  const root = o.root ?? REPO_ROOT;
  const paths = demoPaths(o.env.POSTBUS_DEMO_DIR?.trim() || `${root}.demo`);
  const show = (p: string) => (p.startsWith(root) ? relative(process.cwd(), p) || '.' : p);

  // The demo's own defaults; NATS, Postgres and the rest still come from POSTBUS_* when set.
  const baseEnv: Record<string, string | undefined> = {
    ...o.env,
    POSTBUS_DATABASE_URL: o.env.POSTBUS_DATABASE_URL?.trim() || DEMO_DATABASE_URL,
    POSTBUS_NAMESPACE: o.env.POSTBUS_NAMESPACE?.trim() || DEMO_NAMESPACE,
  };
  const config = loadConfig(baseEnv);

  for (const name of SERVICES) {
    if (!existsSync(`${root}services/${name}/dist/main.js`)) {
      err(`services/${name}/dist/main.js is missing: build first (pnpm build), or run ./scripts/demo.sh`);
      return 1;
    }
  }

  // 1. NATS and Postgres
  const [natsProblem, pg] = await Promise.all([checkNats(config), checkPostgres(config.databaseUrl)]);
  if (natsProblem || pg.problem) {
    for (const p of [natsProblem, pg.problem]) if (p) err(p);
    return 1;
  }
  out(`NATS       ${config.natsServers.join(', ')} (namespace "${config.namespace}")`);
  out(`Postgres   ${safeUrl(config.databaseUrl)}${pg.created ? ' (created)' : ''}`);

  // 2. .demo/
  for (const d of [paths.dir, paths.mail, paths.logs]) mkdirSync(d, { recursive: true });
  const { secrets, created: secretsCreated } = loadOrCreateSecrets(paths.envFile);

  const ac = new AbortController();
  const abort = (reason: Error) => {
    if (!ac.signal.aborted) ac.abort(reason);
  };
  const services = new Services(root, paths.logs, abort);
  let signals = 0;
  const onSignal =
    o.onSignal ??
    ((handler: (signal: string) => void) => {
      const h = (s: NodeJS.Signals) => handler(s);
      process.on('SIGINT', h);
      process.on('SIGTERM', h);
      return () => {
        process.off('SIGINT', h);
        process.off('SIGTERM', h);
      };
    });
  const unsubscribe = onSignal((signal) => {
    if (++signals === 1) abort(new Interrupted(signal));
    else services.kill(); // a second Ctrl-C: no more waiting
  });
  // Last resort if this process ends without stopping them (an uncaught error).
  const killOnExit = () => services.kill('SIGTERM');
  process.once('exit', killOnExit);

  let catcher: Catcher | undefined;
  const poll = async <T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      ac.signal.throwIfAborted();
      const value = await fn().catch((e: unknown) => {
        ac.signal.throwIfAborted();
        if (e instanceof Fatal) throw e;
        return undefined;
      });
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
      await sleep(250, undefined, { signal: ac.signal }).catch(() => ac.signal.throwIfAborted());
    }
  };

  try {
    // 3. the SMTP catcher
    catcher = await startCatcher(paths.mail);
    out(`SMTP       ${catcher.host}:${catcher.port}, catching mail into ${show(paths.mail)}/`);

    // 4. the services
    const adminHost = config.admin.host;
    const adminPort = await pickPort(config.admin.port, adminHost);
    const urlHost = adminHost === '0.0.0.0' || adminHost === '::' ? '127.0.0.1' : adminHost.includes(':') ? `[${adminHost}]` : adminHost;
    const adminUrl = `http://${urlHost}:${adminPort}`;
    const serviceEnv: Record<string, string | undefined> = {
      ...baseEnv,
      POSTBUS_MASTER_KEYS_DIR: undefined,
      POSTBUS_MASTER_KEY_ID: undefined,
      ...secrets,
      POSTBUS_NATS_URL: config.natsServers.join(','),
      POSTBUS_ADMIN_HOST: adminHost,
      POSTBUS_ADMIN_PORT: String(adminPort),
      POSTBUS_ADMIN_PUBLIC_URL: adminUrl,
    };
    for (const k of Object.keys(serviceEnv)) if (serviceEnv[k] === undefined) delete serviceEnv[k];
    for (const name of SERVICES) services.start(name, serviceEnv);
    out(`Services   ${SERVICES.join(', ')} started (pids ${services.pids.join(', ')}), logs in ${show(paths.logs)}/`);

    const admin = new Admin(adminUrl, ac.signal);
    await poll('the admin API to be ready', o.adminReadyTimeoutMs ?? 30_000, async () => ((await admin.request('GET', '/readyz')).status === 200 ? true : undefined));
    out(`Admin API  ${adminUrl} is ready`);

    // 5. log in, an account, five messages
    const login = await admin.expect(200, 'POST', '/v1/auth/login', { username: config.admin.user, password: secrets.POSTBUS_ADMIN_PASSWORD });
    admin.token = login.accessToken as string;

    // Reuse this catcher's account from an earlier run when its secrets are ours; otherwise register one.
    let accountId: string | undefined;
    if (!secretsCreated && !pg.created) {
      const { accounts } = (await admin.expect(200, 'GET', '/v1/accounts')) as { accounts: Array<{ id: string; name: string; fromAddress: string; smtp: { host: string; port: number } }> };
      accountId = accounts.find((a) => a.name === ACCOUNT_NAME && a.fromAddress === DEMO_FROM && a.smtp.host === catcher!.host && a.smtp.port === catcher!.port)?.id;
    }
    if (accountId) {
      out(`Account    ${accountId} (${DEMO_FROM} via ${catcher.host}:${catcher.port}, from an earlier run)`);
    } else {
      const account = await admin.expect(201, 'POST', '/v1/accounts', {
        name: ACCOUNT_NAME,
        fromAddress: DEMO_FROM,
        fromName: 'Postbus Demo',
        smtp: { host: catcher.host, port: catcher.port, tls: 'none', user: DEMO_FROM, password: randomBytes(9).toString('base64url') },
        dailyLimit: 100,
        batchSize: 10,
        sendDelayMs: 0,
        postalAddress: 'Postbus Demo, 1 Example Street, 12345 Example City',
      });
      accountId = account.id as string;
      out(`Account    ${accountId} registered (${DEMO_FROM} via ${catcher.host}:${catcher.port}, 100 a day)`);
    }

    const accepted = await admin.expect(202, 'POST', '/v1/messages', {
      messages: RECIPIENTS.map(([name, to]) => ({
        to,
        toName: name,
        kind: 'bulk',
        accountId,
        subject: 'Hello {{name}}, this is Postbus',
        text: 'Hi {{name}},\n\nthis message went through the admin API, NATS JetStream, the orchestrator and a sender worker to a local SMTP catcher.\n\n-- Postbus demo',
        html: '<p>Hi <b>{{name}}</b>,</p><p>this message went through the admin API, NATS JetStream, the orchestrator and a sender worker to a local SMTP catcher.</p><p>-- Postbus demo</p>',
        variables: { name },
      })),
    });
    const ids = (accepted.messages as Array<{ id: string }>).map((m) => m.id);
    out(`Messages   ${ids.length} requested; waiting until they are sent ...`);

    const states = new Map<string, { state: string; to: string; subject: string; reason: string | null }>();
    await poll(`${ids.length} messages to be sent`, o.sentTimeoutMs ?? 60_000, async () => {
      for (const id of ids) {
        if (states.get(id)?.state === 'sent') continue;
        const res = await admin.request('GET', `/v1/messages/${id}`);
        if (res.status === 404) continue; // not in the ledger yet
        if (res.status !== 200) throw new Error(`GET /v1/messages/${id} answered ${res.status}`);
        const m = res.body as { state: string; to: string; subject: string; reason: string | null };
        states.set(id, m);
        if (m.state !== 'sent' && FINAL_STATES.has(m.state as DeliveryState)) {
          throw new Fatal(`message ${id} ended ${m.state}${m.reason ? ` (${m.reason})` : ''}, not sent`);
        }
      }
      return ids.every((id) => states.get(id)?.state === 'sent') ? true : undefined;
    }).catch((e: unknown) => {
      if (e instanceof Error && /^timed out/.test(e.message)) {
        const now = ids.map((id) => `${id} ${states.get(id)?.state ?? 'requested'}`).join(', ');
        throw new Error(`${e.message}: ${now}`);
      }
      throw e;
    });

    // 6. the summary
    const first = catcher.files[0];
    const headers = first ? readFileSync(first, 'utf8').split(/\r?\n\r?\n/)[0]!.split(/\r?\n/) : [];
    const token = admin.token;
    out();
    out(`Postbus demo: ${ids.length} messages went through the whole platform.`);
    out();
    out(`  Admin API     ${adminUrl}`);
    out(`  OpenAPI       ${adminUrl}/docs  (JSON: ${adminUrl}/docs/json)`);
    out(`  Admin login   ${config.admin.user} / ${secrets.POSTBUS_ADMIN_PASSWORD}  (in ${show(paths.envFile)})`);
    out();
    out('  Access token (valid 15 minutes):');
    out(`    ${token}`);
    out();
    out('  A message and its timeline:');
    out(`    curl -s ${adminUrl}/v1/messages/${ids[0]} -H 'authorization: Bearer ${token}'`);
    out('  A new token:');
    out(`    curl -s ${adminUrl}/v1/auth/login -H 'content-type: application/json' -d '${JSON.stringify({ username: config.admin.user, password: secrets.POSTBUS_ADMIN_PASSWORD })}'`);
    out();
    out('  Messages:');
    for (const id of ids) {
      const m = states.get(id)!;
      out(`    ${id}  ${m.state.padEnd(5)}  ${m.to.padEnd(22)}  ${m.subject}`);
    }
    out();
    out(`  Mail caught at ${catcher.host}:${catcher.port} (${catcher.files.length} files in ${show(paths.mail)}/):`);
    for (const f of catcher.files) out(`    ${show(f)}`);
    if (first) {
      out(`  Headers of ${show(first)}:`);
      for (const h of headers) out(`    | ${h}`);
    }
    out();
    out(`  Logs          ${SERVICES.map((s) => show(`${paths.logs}/${s}.log`)).join(', ')}`);
    out();

    if (o.exitWhenDone) {
      out('--exit: stopping.');
      return await stopAll(0);
    }
    out('Press Ctrl-C to stop.');
    await new Promise<void>((resolve) => (ac.signal.aborted ? resolve() : ac.signal.addEventListener('abort', () => resolve(), { once: true })));
    ac.signal.throwIfAborted();
    return await stopAll(0);
  } catch (e) {
    const reason: unknown = ac.signal.aborted ? ac.signal.reason : e;
    if (reason instanceof Interrupted) {
      out();
      out(`${reason.signal}: stopping ...`);
      return await stopAll(0);
    }
    if (reason instanceof ServiceDied) {
      err(`\npostbus demo: ${reason.message}. The end of ${show(reason.logPath)}:\n${tail(reason.logPath)}`);
      return await stopAll(1);
    }
    err(`\npostbus demo: ${errorText(reason)}`);
    err(`Service logs are in ${show(paths.logs)}/; the end of admin.log:\n${tail(`${paths.logs}/admin.log`, 15)}`);
    return await stopAll(1);
  } finally {
    unsubscribe();
    process.off('exit', killOnExit);
  }

  async function stopAll(code: number): Promise<number> {
    await services.stop();
    await catcher?.close();
    out(code === 0 ? 'Stopped.' : 'Stopped the demo.');
    return code;
  }
}
