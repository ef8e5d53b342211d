import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { SERVICE_NODE_ARGS } from '@postbus/config';

export const SERVICES = ['admin', 'orchestrator', 'sender', 'projector', 'tracking', 'bounce-processor', 'sponsor-gateway'] as const;
export type ServiceName = (typeof SERVICES)[number];

export class ServiceDied extends Error {
  constructor(
    readonly service: ServiceName,
    readonly code: number | null,
    readonly signal: string | null,
    readonly logPath: string,
  ) {
    super(`${service} exited unexpectedly (${code !== null ? `exit code ${code}` : `signal ${signal}`})`);
  }
}

interface Running {
  readonly name: ServiceName;
  readonly child: ChildProcess;
  readonly logPath: string;
  readonly exited: Promise<void>;
}

/** The four services as child processes, each writing stdout and stderr to its own log file. */
export class Services {
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
      child = spawn(process.execPath, [...SERVICE_NODE_ARGS, `${this.root}services/${name}/dist/main.js`], { env, stdio: ['ignore', fd, fd], detached: true });
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

/** The end of a service's log, shown when the demo fails so the cause is on screen without opening the file. */
export function tail(path: string, lines = 30): string {
  try {
    const text = readFileSync(path, 'utf8').trimEnd();
    return text ? text.split('\n').slice(-lines).join('\n') : '(empty)';
  } catch {
    return '(no log)';
  }
}

function listenable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** The preferred port when it is free, else any: whatever already holds the configured one (often an earlier admin API) must not stop the demo. */
export async function pickPort(preferred: number, host: string): Promise<number> {
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
