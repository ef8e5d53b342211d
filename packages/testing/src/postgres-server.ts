import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { canConnect, freePort } from './ports.js';
import { exitOf, onProcessExit, OutputTail, waitExit, type Exit } from './processes.js';

const START_TIMEOUT_MS = 30_000;

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`, trust auth. */
  readonly url: string;
  readonly port: number;
  /** Temp dir holding the cluster (`dir/data`). */
  readonly dir: string;
  readonly pid: number | undefined;
  /** Fast shutdown (SIGINT), data kept: start() brings it back. */
  stop(): Promise<void>;
  /** Starts again on the same port and data; a no-op while running. */
  start(): Promise<void>;
  /** SIGKILL to postmaster and every backend (a crash): start() runs crash recovery. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** Stops it and removes the directory. */
  destroy(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions.map((v) => path.join(root, v, 'bin')).find((dir) => existsSync(path.join(dir, 'postgres')));
  if (!found) throw new Error(`no PostgreSQL binaries under ${root}/*/bin`);
  return found;
}

/** Postgres refuses to run as root: as root, run it as the `postgres` system user. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error('running as root, but there is no postgres user');
  return { uid: Number(uid), gid: Number(gid) };
}

async function run(command: string, args: string[], options: SpawnOptions): Promise<void> {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail = new OutputTail();
  tail.attach(child);
  const exit = await exitOf(child);
  if (exit.code !== 0) {
    throw new Error(`${path.basename(command)} failed (${exit.error?.message ?? exit.code ?? exit.signal}):\n${tail.toString()}`);
  }
}

/** Runs a private Postgres cluster (initdb in a temp dir) for tests that stop, kill or restart it. */
export async function startPostgresServer(): Promise<PostgresServer> {
  const bin = binDir();
  const user = runAs();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'postbus-pg-'));
  const data = path.join(dir, 'data');
  let child: ChildProcess | undefined;
  let exited: Promise<Exit> | undefined;
  let port = await freePort();

  const killGroup = (proc: ChildProcess, signal: NodeJS.Signals): void => {
    try {
      // detached: the postmaster leads its own process group, which holds every backend
      if (proc.pid !== undefined) process.kill(-proc.pid, signal);
    } catch {
      // already gone
    }
  };
  const unregister = onProcessExit(() => {
    if (child) killGroup(child, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const launch = async (): Promise<void> => {
    const args = ['-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', ''];
    // fsync off only loses data in an OS crash; kill() is a process crash, which it survives
    for (const setting of ['fsync=off', 'shared_buffers=32MB', 'max_connections=100']) args.push('-c', setting);
    const proc = spawn(path.join(bin, 'postgres'), args, {
      ...user,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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
      tail.contains('ready to accept connections').then(() => 'ready' as const),
      procExit,
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), START_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    if (outcome === 'ready' && (await canConnect(port))) return;
    killGroup(proc, 'SIGKILL');
    await procExit;
    const why = outcome === 'timeout' ? `not ready within ${START_TIMEOUT_MS} ms` : 'exited early';
    throw new Error(`postgres on port ${port} ${why}; output:\n${tail.toString().slice(-2000)}`);
  };

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (!proc || !exited) return;
    if (signal === 'SIGKILL') killGroup(proc, signal);
    else proc.kill(signal);
    // a fast shutdown ends its backends before the postmaster exits; a group kill leaves none
    await waitExit(proc, exited, 30_000);
  };

  try {
    if (user) chownSync(dir, user.uid, user.gid);
    await run(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], {
      ...user,
      cwd: dir,
    });
    try {
      await launch();
    } catch (err) {
      if (!String(err).includes('already in use')) throw err;
      port = await freePort(); // taken by a parallel test between freePort() and the bind
      await launch();
    }
  } catch (err) {
    unregister();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    get url() {
      return `postgres://postgres@127.0.0.1:${port}/postgres`;
    },
    get port() {
      return port;
    },
    dir,
    get pid() {
      return child?.pid;
    },
    stop: () => halt('SIGINT'),
    async start() {
      if (!child) await launch();
    },
    kill: () => halt('SIGKILL'),
    async restart() {
      await halt('SIGINT');
      await launch();
    },
    async destroy() {
      await halt('SIGINT');
      await rm(dir, { recursive: true, force: true });
      unregister();
    },
  };
}
