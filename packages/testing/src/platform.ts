import { spawn, type ChildProcess } from 'node:child_process';
import { SERVICE_NODE_ARGS } from '@postbus/config';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';
import { onProcessExit } from './processes.js';

// packages/testing/{src,dist}/platform.js → the repository root
const root = fileURLToPath(new URL('../../../', import.meta.url));

export type ServiceName = 'admin' | 'orchestrator' | 'sender' | 'projector' | 'tracking' | 'bounce-processor' | 'sponsor-gateway';

export interface PlatformOptions {
  readonly natsUrl: string;
  readonly databaseUrl: string;
  readonly namespace: string;
  readonly env?: Record<string, string>;
  /** Node arguments for every service process besides SERVICE_NODE_ARGS (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  /** Output chunks kept per service (default 500): more for a test that reads a service's log. */
  readonly keepOutputChunks?: number;
}

export interface RunningService {
  readonly name: ServiceName;
  readonly process: ChildProcess;
  readonly output: string[];
  /** SIGKILL: no shutdown code runs. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for a clean exit. */
  stop(): Promise<number | null>;
}

/**
 * Runs the built services (dist/) as separate processes, as a user would, against the
 * given NATS, Postgres and namespace. `pnpm test` builds before running the tests.
 */
export class Platform {
  /** Keyed by the service's name, or by the key given when several of one service run. */
  readonly services = new Map<string, RunningService>();
  readonly adminPassword = randomBytes(12).toString('base64url');
  readonly masterKeys = `k1:${randomBytes(32).toString('base64')}`;
  readonly jwtSecret = randomBytes(32).toString('base64');
  adminPort = 0;
  trackingPort = 0;
  sponsorGatewayPort = 0;

  constructor(private readonly opts: PlatformOptions) {}

  /** The tracking service's base URL (links, pixels and unsubscribe URLs in sent mail point here). */
  get trackingUrl(): string {
    return `http://127.0.0.1:${this.trackingPort}`;
  }

  get sponsorGatewayUrl(): string {
    return `http://127.0.0.1:${this.sponsorGatewayPort}`;
  }

  get adminUrl(): string {
    return `http://127.0.0.1:${this.adminPort}`;
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '',
      POSTBUS_NATS_URL: this.opts.natsUrl,
      POSTBUS_DATABASE_URL: this.opts.databaseUrl,
      POSTBUS_NAMESPACE: this.opts.namespace,
      POSTBUS_MASTER_KEYS: this.masterKeys,
      POSTBUS_JWT_SECRET: this.jwtSecret,
      POSTBUS_ADMIN_PASSWORD: this.adminPassword,
      POSTBUS_ADMIN_PORT: String(this.adminPort),
      POSTBUS_TRACKING_PORT: String(this.trackingPort),
      POSTBUS_TRACKING_PUBLIC_URL: this.trackingUrl,
      POSTBUS_SPONSOR_GATEWAY_PORT: String(this.sponsorGatewayPort),
      POSTBUS_LOG_LEVEL: process.env.POSTBUS_TEST_LOG_LEVEL ?? 'warn',
      POSTBUS_RECONCILE_INTERVAL_MS: '2000',
      ...this.opts.env,
      ...extra,
    };
  }

  async start(names: readonly ServiceName[] = ['admin', 'orchestrator', 'sender', 'projector']): Promise<void> {
    if (!this.adminPort) this.adminPort = await freePort();
    if (!this.trackingPort) this.trackingPort = await freePort();
    if (!this.sponsorGatewayPort) this.sponsorGatewayPort = await freePort();
    for (const n of names) await this.startService(n);
    // Generous: a loaded CI machine (the suite runs files in parallel) can take long to start six processes.
    if (names.includes('admin')) {
      await waitFor(async () => this.ready(), { timeoutMs: 45_000, message: 'admin did not start' }).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}; its log:\n${this.logs('admin')}`);
      });
    }
  }

  /** Starts one service process; `key` names it in `services` when several of one service run (e.g. 'sender-2'). */
  async startService(name: ServiceName, extra: Record<string, string> = {}, key: string = name): Promise<RunningService> {
    const child = spawn(process.execPath, [...SERVICE_NODE_ARGS, ...(this.opts.nodeArgs ?? []), `${root}services/${name}/dist/main.js`], { env: this.env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    const keep = (b: Buffer) => {
      output.push(b.toString());
      if (output.length > (this.opts.keepOutputChunks ?? 500)) output.shift();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    // A test runner that exits without stopping the platform takes the services with it.
    const unregister = onProcessExit(() => child.kill('SIGKILL'));
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        unregister();
        resolve(code);
      }),
    );
    const svc: RunningService = {
      name,
      process: child,
      output,
      async kill9() {
        child.kill('SIGKILL');
        await exited;
      },
      async stop() {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
        const code = await exited;
        clearTimeout(t);
        return code;
      },
    };
    this.services.set(key, svc);
    return svc;
  }

  logs(name: string): string {
    return this.services.get(name)?.output.join('') ?? '';
  }

  private async ready(): Promise<boolean> {
    try {
      return (await fetch(`${this.adminUrl}/readyz`)).ok;
    } catch {
      return false;
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.services.values()].map((s) => (s.process.exitCode === null ? s.stop() : Promise.resolve(null))));
    this.services.clear();
  }
}

/** A small admin API client, as an operator's script would use it. */
export class AdminClient {
  private token = '';
  constructor(readonly baseUrl: string) {}

  async login(username: string, password: string): Promise<void> {
    const res = await this.request('POST', '/v1/auth/login', { username, password });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
    this.token = (res.body as { accessToken: string }).accessToken;
  }

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      // A test fails with a message rather than hanging on a request that never ends.
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }
}
