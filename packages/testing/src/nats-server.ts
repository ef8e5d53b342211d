import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { canConnect, freePort } from './ports.js';
import { exitOf, onProcessExit, OutputTail, waitExit, type Exit } from './processes.js';

const NATS_SERVER = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';
const START_TIMEOUT_MS = 10_000;

export interface NatsServerOptions {
  /** Default: a free port. */
  port?: number;
  /** JetStream store. Default: a fresh temp dir, removed by stop(). */
  storeDir?: string;
  /** Default true. */
  jetstream?: boolean;
  /** Keep the store directory on stop() (a temp store is otherwise removed; a given storeDir never is). */
  keepStore?: boolean;
  /** Extra nats-server arguments. */
  args?: string[];
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** pid of the running process; undefined while stopped. */
  readonly pid: number | undefined;
  /** SIGTERM, wait for exit, then remove a temp store unless keepStore. */
  stop(): Promise<void>;
  /** SIGKILL (a crash): the store is kept, so restart()/start() recovers from it. */
  kill(): Promise<void>;
  /** Stop (SIGTERM, store kept) if running, then start again on the same port and store. */
  restart(): Promise<void>;
  /** Start again after kill()/stop(); a no-op while running. */
  start(): Promise<void>;
}

/** Starts a private nats-server (JetStream on) for tests that stop, kill or restart it. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const jetstream = options.jetstream ?? true;
  const ownsStore = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await mkdtemp(path.join(os.tmpdir(), 'postbus-nats-')));
  const removeStore = ownsStore && !options.keepStore;
  let port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;
  let exited: Promise<Exit> | undefined;

  let unregister: (() => void) | undefined;
  const cleanup = async (): Promise<void> => {
    if (removeStore) await rm(storeDir, { recursive: true, force: true });
    unregister?.();
    unregister = undefined;
  };

  const launch = async (): Promise<void> => {
    unregister ??= onProcessExit(() => {
      child?.kill('SIGKILL');
      if (removeStore) rmSync(storeDir, { recursive: true, force: true });
    });
    const args = ['-a', '127.0.0.1', '-p', String(port), '-sd', storeDir];
    if (jetstream) args.push('-js');
    args.push(...(options.args ?? []));
    const proc = spawn(NATS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const procExit = exitOf(proc);
    const tail = new OutputTail();
    tail.attach(proc);
    child = proc;
    exited = procExit;
    void procExit.then(() => {
      if (child === proc) child = undefined;
    });

    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      tail.contains('Server is ready').then(() => 'ready' as const),
      procExit.then((exit) => exit),
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), START_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    if (outcome === 'ready' && (await canConnect(port))) return;
    if (outcome !== 'ready' && outcome !== 'timeout' && outcome.error) {
      throw new Error(`could not run ${NATS_SERVER}: ${outcome.error.message}`, { cause: outcome.error });
    }
    proc.kill('SIGKILL');
    await procExit;
    const why = outcome === 'timeout' ? `not ready within ${START_TIMEOUT_MS} ms` : 'exited early';
    throw new Error(`nats-server on port ${port} ${why}; output:\n${tail.toString().slice(-2000)}`);
  };

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (!proc || !exited) return;
    proc.kill(signal);
    await waitExit(proc, exited, 10_000);
  };

  try {
    await launch();
  } catch (err) {
    // another parallel test may have taken the free port between freePort() and the bind
    const portTaken = options.port === undefined && String(err).includes('address already in use');
    try {
      if (!portTaken) throw err;
      port = await freePort();
      await launch();
    } catch (final) {
      await cleanup();
      throw final;
    }
  }

  return {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    storeDir,
    get pid() {
      return child?.pid;
    },
    async stop() {
      await halt('SIGTERM');
      await cleanup();
    },
    async kill() {
      await halt('SIGKILL');
    },
    async restart() {
      await halt('SIGTERM');
      await launch();
    },
    async start() {
      if (!child) await launch();
    },
  };
}
