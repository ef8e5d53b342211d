import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, deleteNamespace } from '@postbus/bus';
import { bucketSpecs, streamName, streamSpecs } from '@postbus/contracts';
import { createTestDatabase, freePort, sharedNatsUrl, startNatsServer, testNamespace, waitFor, type NatsServer, type TestDatabase } from '@postbus/testing';

/**
 * The compose files and the Dockerfile, checked as far as a machine without a Docker engine can:
 * the compose specification's rules that matter, every file, path and command they name, every
 * POSTBUS_* variable they set, and each service's entry command run here under Node against the
 * machine's NATS and a fresh database, answering its own compose health check.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const COMPOSE_FILES = ['docker-compose.yml', ...readdirSync(join(root, 'deploy')).filter((f) => /^compose.*\.ya?ml$/.test(f)).map((f) => `deploy/${f}`)];
const TOP_LEVEL = new Set(['name', 'services', 'networks', 'volumes', 'secrets', 'configs', 'include', 'models']);
// The compose specification's service attributes (compose-spec/compose-spec, schema/compose-spec.json).
const SERVICE_KEYS = new Set(
  `annotations attach blkio_config build cap_add cap_drop cgroup cgroup_parent command configs container_name cpu_count cpu_percent
  cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpu_shares cpus cpuset credential_spec depends_on deploy develop device_cgroup_rules
  devices dns dns_opt dns_search domainname entrypoint env_file environment expose extends external_links extra_hosts gpus group_add
  healthcheck hostname image init ipc isolation label_file labels links logging mac_address mem_limit mem_reservation mem_swappiness
  memswap_limit models network_mode networks oom_kill_disable oom_score_adj pid pids_limit platform ports post_start pre_stop privileged
  profiles provider pull_policy read_only restart runtime scale secrets security_opt shm_size stdin_open stop_grace_period stop_signal
  storage_opt sysctls tmpfs tty ulimits use_api_socket user userns_mode uts volumes volumes_from working_dir`.split(/\s+/),
);
const DURATION = /^(\d+(\.\d+)?(us|ms|s|m|h))+$/;

// Parsed YAML: its shape is what the tests check.
type Json = any;

// deploy/env.example documents every variable the compose files interpolate; its values (empty
// secrets filled in) stand in for the operator's .env.
const envExample = readFileSync(join(root, 'deploy/env.example'), 'utf8');
const documented = new Set([...envExample.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!));
const exampleEnv = Object.fromEntries([...envExample.matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1]!, m[2] || 'placeholder']));

/** Compose interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}. */
function interpolate(value: string, env: Record<string, string>, used: Set<string>): string {
  return value.replace(/\$\$|\$\{([A-Za-z_]\w*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_]\w*)/g, (m, braced?: string, op?: string, arg?: string, bare?: string) => {
    if (m === '$$') return '$';
    const name = (braced ?? bare)!;
    used.add(name);
    const v = env[name];
    const unset = op?.startsWith(':') ? !v : v === undefined;
    if (op?.endsWith('-') && unset) return arg ?? '';
    if (op?.endsWith('?') && unset) throw new Error(`required variable ${name} is unset: ${arg}`);
    return v ?? '';
  });
}

function deepInterpolate(node: Json, env: Record<string, string>, used: Set<string>): Json {
  if (typeof node === 'string') return interpolate(node, env, used);
  if (Array.isArray(node)) return node.map((n) => deepInterpolate(n, env, used));
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, deepInterpolate(v, env, used)]));
  return node;
}

interface ComposeFile {
  readonly path: string;
  readonly dir: string;
  readonly doc: Json;
  readonly used: Set<string>;
}

function loadCompose(path: string, env: Record<string, string> = exampleEnv): ComposeFile {
  const raw = parse(readFileSync(join(root, path), 'utf8'), { merge: true });
  const used = new Set<string>();
  return { path, dir: dirname(join(root, path)), doc: deepInterpolate(raw, env, used), used };
}

const composes = COMPOSE_FILES.map((p) => loadCompose(p));
const main = composes.find((c) => c.path === 'docker-compose.yml')!;
const postbusServices = (c: ComposeFile) => Object.entries(c.doc.services as Record<string, Json>).filter(([, s]) => s.build);
const commandOf = (s: Json): string[] => (typeof s.command === 'string' ? ['sh', '-c', s.command] : (s.command as string[]));
const healthPortOf = (s: Json): string => (s.healthcheck.test as string[]).find((a) => /^\d+$/.test(a))!;
const configSource = readFileSync(join(root, 'packages/config/src/index.ts'), 'utf8');
const configVars = new Set([...configSource.matchAll(/\b(POSTBUS_[A-Z0-9_]+)\b/g)].map((m) => m[1]!));

describe.each(composes.map((c) => [c.path, c] as const))('%s', (_path, c) => {
  const services = Object.entries(c.doc.services as Record<string, Json>);

  it('follows the compose specification: top-level keys, service keys, image or build, depends_on, healthchecks', () => {
    for (const key of Object.keys(c.doc)) expect(TOP_LEVEL.has(key) || key.startsWith('x-'), `top-level key ${key}`).toBe(true);
    expect(c.doc.version, 'the version key is obsolete').toBeUndefined();
    expect(services.length).toBeGreaterThan(0);
    for (const [name, s] of services) {
      expect(name).toMatch(/^[a-zA-Z0-9._-]+$/);
      for (const key of Object.keys(s)) expect(SERVICE_KEYS.has(key) || key.startsWith('x-'), `${name}: unknown attribute ${key}`).toBe(true);
      expect(s.image ?? s.build, `${name} has image or build`).toBeTruthy();
      const deps: Record<string, Json> = Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((d: string) => [d, {}])) : (s.depends_on ?? {});
      for (const [dep, cond] of Object.entries(deps)) {
        const target = c.doc.services[dep];
        expect(target, `${name} depends on ${dep}, which exists`).toBeDefined();
        if (cond.condition) expect(['service_started', 'service_healthy', 'service_completed_successfully']).toContain(cond.condition);
        if (cond.condition === 'service_healthy') expect(target.healthcheck?.test, `${dep} has a health check`).toBeDefined();
        if (cond.condition === 'service_completed_successfully') expect(target.restart, `${dep} runs once`).toBe('no');
      }
      if (s.healthcheck) {
        const t = s.healthcheck.test;
        if (Array.isArray(t)) {
          expect(['CMD', 'CMD-SHELL', 'NONE'], `${name} healthcheck test[0]`).toContain(t[0]);
          if (t[0] !== 'NONE') expect(t.length, `${name} healthcheck names a command`).toBeGreaterThan(1);
          for (const a of t) expect(typeof a).toBe('string');
        } else expect(typeof t).toBe('string');
        for (const k of ['interval', 'timeout', 'start_period']) if (s.healthcheck[k] !== undefined) expect(s.healthcheck[k]).toMatch(DURATION);
      }
      if (s.stop_grace_period !== undefined) expect(s.stop_grace_period).toMatch(DURATION);
      if (s.restart !== undefined) expect(['no', 'always', 'on-failure', 'unless-stopped']).toContain(s.restart);
    }
  });

  it('declares every named volume and network it uses; every bind mount, env file, build context and Dockerfile exists', () => {
    for (const [name, s] of services) {
      for (const v of (s.volumes ?? []) as Json[]) {
        const source = typeof v === 'string' ? v.split(':')[0]! : v.source;
        if (/^[./~]/.test(source)) expect(existsSync(resolve(c.dir, source)), `${name}: bind mount ${source}`).toBe(true);
        else expect(Object.keys(c.doc.volumes ?? {}), `${name}: volume ${source} declared`).toContain(source);
      }
      const nets = Array.isArray(s.networks) ? s.networks : Object.keys(s.networks ?? {});
      for (const n of nets) expect(Object.keys(c.doc.networks ?? {}), `${name}: network ${n} declared`).toContain(n);
      const envFiles: Json[] = [s.env_file ?? []].flat();
      for (const f of envFiles) {
        const path = typeof f === 'string' ? f : f.path;
        const required = typeof f === 'string' || f.required !== false;
        // .env is the operator's (from deploy/env.example), so it must be optional here.
        if (required) expect(existsSync(resolve(c.dir, path)), `${name}: env_file ${path}`).toBe(true);
        else expect(existsSync(join(root, 'deploy/env.example'))).toBe(true);
      }
      if (s.build) {
        const build = typeof s.build === 'string' ? { context: s.build } : s.build;
        const context = resolve(c.dir, build.context ?? '.');
        expect(context, `${name}: the build context is the repository`).toBe(resolve(root));
        expect(existsSync(join(context, build.dockerfile ?? 'Dockerfile'))).toBe(true);
      }
    }
  });

  it('names only files that exist after the build, and only POSTBUS_* variables that packages/config reads', () => {
    for (const v of c.used) expect(documented.has(v), `\${${v}} is documented in deploy/env.example`).toBe(true);
    for (const [name, s] of postbusServices(c)) {
      const words = [...commandOf(s), ...((s.healthcheck?.test as string[] | undefined) ?? [])].join(' ');
      const paths = [...words.matchAll(/\b((?:services|packages|deploy)\/[\w./-]+\.m?js)\b/g)].map((m) => m[1]!);
      expect(paths.length, `${name} names its entry point`).toBeGreaterThan(0);
      for (const p of paths) expect(existsSync(join(root, p)), `${name}: ${p} (pnpm build first)`).toBe(true);
      for (const key of [...Object.keys(s.environment ?? {}), ...words.matchAll(/\b(POSTBUS_[A-Z0-9_]+)\b/g)].map((k) => (typeof k === 'string' ? k : k[1]!)))
        if (key.startsWith('POSTBUS_')) expect(configVars.has(key), `${name}: ${key} is read by packages/config`).toBe(true);
      expect(s.environment?.POSTBUS_STREAM_REPLICAS, `${name}: R3 streams`).toBe('3');
    }
    // /metrics is protected everywhere: the token is required (compose refuses to start without it).
    expect(() => loadCompose(c.path, { ...exampleEnv, POSTBUS_METRICS_TOKEN: '' })).toThrow(/required variable POSTBUS_METRICS_TOKEN/);
    for (const [name, s] of postbusServices(c)) expect(s.environment?.POSTBUS_METRICS_TOKEN, `${name}: POSTBUS_METRICS_TOKEN`).toBe(exampleEnv.POSTBUS_METRICS_TOKEN);
    const sender = c.doc.services.sender;
    expect(sender, 'a sender service').toBeDefined();
    expect(sender.container_name, 'senders scale: no fixed container name').toBeUndefined();
    for (const p of sender.ports ?? []) expect(String(p), 'senders scale: no fixed host port').not.toMatch(/:/);
  });
});

describe('docker-compose.yml', () => {
  it('runs every service that has a src/main.ts, with a health check, against all three NATS nodes', () => {
    const built = readdirSync(join(root, 'services')).filter((n) => existsSync(join(root, 'services', n, 'src/main.ts')));
    const entries = postbusServices(main).map(([, s]) => commandOf(s).join(' '));
    for (const n of built) expect(entries.some((e) => e.includes(`services/${n}/dist/main.js`)), `services/${n} runs in compose`).toBe(true);
    for (const [name, s] of postbusServices(main)) {
      if (name !== 'migrate') expect(s.healthcheck?.test, `${name} has a health check`).toBeDefined();
      const nodes = String(s.environment.POSTBUS_NATS_URL).split(',');
      expect(nodes.length).toBe(3);
      for (const url of nodes) expect(main.doc.services[new URL(url).hostname], url).toBeDefined();
    }
    expect(main.doc.services.migrate.command.join(' ')).toBe('node packages/cli/dist/main.js migrate');
    // Each NATS node keeps its JetStream store (-sd) in a volume of its own.
    const stores = [1, 2, 3].map((i) => {
      const n = main.doc.services[`nats-${i}`];
      const dir = n.command[n.command.indexOf('-sd') + 1] as string;
      return (n.volumes as string[]).find((v) => v.endsWith(`:${dir}`))?.split(':')[0];
    });
    expect(new Set(stores).size, `stores: ${stores.join(', ')}`).toBe(3);
    for (const v of stores) expect(Object.keys(main.doc.volumes)).toContain(v);
  });
  it('Prometheus scrapes every service (each replica) on its /metrics port with the services\' token as bearer', () => {
    const prometheus = parse(readFileSync(join(root, 'deploy/prometheus/prometheus.yml'), 'utf8'));
    // The token reaches Prometheus as a file: a secret made from the same variable the services get.
    expect(main.doc.secrets?.metrics_token).toEqual({ environment: 'POSTBUS_METRICS_TOKEN' });
    expect(main.doc.services.prometheus.secrets).toContain('metrics_token');
    const mounted = '/run/secrets/metrics_token'; // where compose puts a service's secret
    const jobs = prometheus.scrape_configs as Json[];
    for (const [name, s] of postbusServices(main).filter(([n]) => n !== 'migrate')) {
      const port = Number(healthPortOf(s)); // /healthz, /readyz and /metrics answer on one port
      const job = jobs.find((j) => (j.dns_sd_configs ?? []).some((d: Json) => d.names.includes(name) && d.port === port && d.type === 'A'));
      expect(job, `a scrape job for ${name}:${port}`).toBeDefined();
      expect(job.authorization, `${name}: bearer token`).toEqual({ type: 'Bearer', credentials_file: mounted });
      expect(job.bearer_token ?? job.authorization.credentials, `${name}: no token written in the file`).toBeUndefined();
    }
  });
});

describe('Dockerfile', () => {
  const lines = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const instr = lines.map((l) => ({ op: l.split(/\s+/)[0]!.toUpperCase(), args: l.slice(l.indexOf(' ') + 1).trim() }));

  it('copies only what exists and .dockerignore keeps, from stages it declares, into a non-root runtime', () => {
    const stages = instr.filter((i) => i.op === 'FROM').map((i) => i.args.split(/\s+as\s+/i)[1]);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const ignore = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const ignored = (p: string) => ignore.some((pat) => new RegExp(`^${pat.replace(/[.+^${}()|[\]]/g, '\\$&').replace(/\*\*\//g, '(.*/)?').replace(/\*/g, '[^/]*')}(/.*)?$`).test(p));
    for (const { op, args } of instr.filter((i) => i.op === 'COPY' || i.op === 'ADD')) {
      const from = /--from=(\S+)/.exec(args)?.[1];
      const words = args.split(/\s+/).filter((w) => !w.startsWith('--'));
      if (from) {
        expect(stages, `${op} --from=${from}`).toContain(from);
        continue;
      }
      for (const src of words.slice(0, -1)) {
        expect(existsSync(join(root, src)), `${op} ${src}`).toBe(true);
        if (src !== '.') expect(ignored(src), `${src} is not in .dockerignore`).toBe(false);
      }
    }
    for (const needed of ['pnpm-lock.yaml', 'deploy/healthcheck.mjs', 'packages/db/migrations/0001_primary.sql', 'services/sender/src/main.ts'])
      expect(ignored(needed), `${needed} reaches the build`).toBe(false);
    const runtime = instr.slice(instr.map((i) => i.op).lastIndexOf('FROM'));
    expect(runtime.find((i) => i.op === 'USER')?.args).toMatch(/^(?!root\b|0\b)/);
    expect(runtime.some((i) => i.op === 'ENV' && /NODE_ENV=production/.test(i.args))).toBe(true);
    expect(runtime.find((i) => i.op === 'ENTRYPOINT')?.args).toMatch(/tini/);
    const pnpm = /pnpm@([\d.]+)/.exec(lines.join('\n'))?.[1];
    expect(`pnpm@${pnpm}`, 'the pnpm the repository pins').toBe(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager);
  });
});

describe("each service's compose command, run here under Node", () => {
  const ns = testNamespace();
  let db: TestDatabase;
  const children: ChildProcess[] = [];
  const secrets = {
    POSTBUS_MASTER_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    POSTBUS_JWT_SECRET: randomBytes(32).toString('base64'),
    POSTBUS_ADMIN_PASSWORD: randomBytes(12).toString('base64url'),
  };
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await db?.drop();
    // The services made the namespace's streams and buckets on the shared server: remove them.
    const bus = await connectBus({ servers: [sharedNatsUrl()], name: 'compose-cleanup', namespace: ns });
    try {
      await deleteNamespace(bus, streamSpecs(ns), bucketSpecs(ns));
    } finally {
      await bus.close();
    }
  });

  /** The service's compose environment, pointed at this machine (the image's listen-on-all is left out). */
  const envFor = (s: Json, natsUrl: string, replicas: string, port?: [string, string]) => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
    for (const [k, v] of Object.entries((s.environment ?? {}) as Record<string, string>)) env[k] = port && v === port[0] ? port[1] : String(v);
    delete env.OTEL_EXPORTER_OTLP_ENDPOINT;
    return { ...env, ...secrets, POSTBUS_NATS_URL: natsUrl, POSTBUS_DATABASE_URL: db.url, POSTBUS_NAMESPACE: ns.prefix, POSTBUS_STREAM_REPLICAS: replicas, POSTBUS_LOG_LEVEL: 'warn' };
  };
  const run = (cmd: string[], env: Record<string, string>) => {
    const child = spawn(cmd[0]!, cmd.slice(1), { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    child.stdout.on('data', (b: Buffer) => output.push(b.toString()));
    child.stderr.on('data', (b: Buffer) => output.push(b.toString()));
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    children.push(child);
    return { child, output, exited };
  };
  /** The compose health check, as the container would run it (CMD form, with the port moved). */
  const healthy = (test: string[], port: [string, string]) =>
    new Promise<boolean>((done) => execFile(test[1]!, test.slice(2).map((a) => (a === port[0] ? port[1] : a)), { cwd: root, timeout: 5_000 }, (err) => done(!err)));
  const stop = async (svc: ReturnType<typeof run>) => {
    svc.child.kill('SIGTERM');
    const t = setTimeout(() => svc.child.kill('SIGKILL'), 20_000);
    const code = await svc.exited;
    clearTimeout(t);
    return code;
  };

  it('migrate completes, then every service answers its health check and stops cleanly on SIGTERM', async () => {
    const migrate = run(commandOf(main.doc.services.migrate), envFor(main.doc.services.migrate, sharedNatsUrl(), '1'));
    expect(await migrate.exited, migrate.output.join('')).toBe(0);
    const started = await Promise.all(
      postbusServices(main)
        .filter(([name]) => name !== 'migrate')
        .map(async ([name, s]) => {
          const port: [string, string] = [healthPortOf(s), String(await freePort())];
          return { name, s, port, svc: run(commandOf(s), envFor(s, sharedNatsUrl(), '1', port)) };
        }),
    );
    for (const { name, s, port, svc } of started)
      await waitFor(() => healthy(s.healthcheck.test, port), { timeoutMs: 45_000, intervalMs: 250, message: `${name} healthy` }).catch((err: Error) => {
        throw new Error(`${err.message}\n${svc.output.join('').slice(-3000)}`);
      });
    // What Prometheus does with the token compose gave the service: 200 with it, 401 without.
    for (const { name, s, port } of started) {
      const token = String(s.environment.POSTBUS_METRICS_TOKEN);
      const metrics = `http://127.0.0.1:${port[1]}/metrics`;
      expect((await fetch(metrics)).status, `${name}: /metrics without the token`).toBe(401);
      const res = await fetch(metrics, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status, `${name}: /metrics with the token`).toBe(200);
      expect(await res.text(), name).toContain('process_cpu_seconds_total');
    }
    for (const { name, svc } of started) expect(await stop(svc), `${name} exit code:\n${svc.output.join('').slice(-3000)}`).toBe(0);
  }, 150_000);

  it("runs on the 3-node cluster of deploy/nats with R3 streams and buckets (the nodes' addresses moved to this machine)", async () => {
    const conf = (i: number) => join(root, 'deploy/nats', `nats-${i}.conf`);
    const routes = await Promise.all([1, 2, 3].map(() => freePort()));
    const nodes: NatsServer[] = [];
    try {
      for (const i of [1, 2, 3]) {
        expect(main.doc.services[`nats-${i}`].command).toContain(`/etc/nats/nats-${i}.conf`);
        const cluster = ['--cluster', `nats://127.0.0.1:${routes[i - 1]}`, '--routes', routes.map((p) => `nats://127.0.0.1:${p}`).join(','), '-m', String(await freePort())];
        nodes.push(await startNatsServer({ args: ['-c', conf(i), ...cluster] }));
      }
      const url = nodes.map((n) => n.url).join(',');
      // The cluster elects its JetStream meta leader first (slow on a loaded machine): wait for it.
      await waitFor(
        async () => {
          const probe = await connectBus({ servers: url.split(','), name: 'compose-probe', namespace: ns }).catch(() => undefined);
          if (!probe) return false;
          try {
            await probe.jsm.getAccountInfo();
            return true;
          } catch {
            return false;
          } finally {
            await probe.close();
          }
        },
        { timeoutMs: 60_000, intervalMs: 500, message: 'the 3-node cluster has no JetStream meta leader' },
      );
      const s = main.doc.services.orchestrator;
      const port: [string, string] = [healthPortOf(s), String(await freePort())];
      const svc = run(commandOf(s), envFor(s, url, '3', port));
      await waitFor(() => healthy(s.healthcheck.test, port), { timeoutMs: 60_000, intervalMs: 250, message: 'orchestrator healthy' }).catch((err: Error) => {
        throw new Error(`${err.message}\n${svc.output.join('').slice(-3000)}`);
      });
      const bus = await connectBus({ servers: url.split(','), name: 'compose-test', namespace: ns });
      try {
        expect((await bus.jsm.streams.info(streamName(ns, 'MAIL'))).config.num_replicas).toBe(3);
        expect((await bus.jsm.streams.info(`KV_${ns.prefix}_postbus_nodes`)).config.num_replicas).toBe(3);
      } finally {
        await bus.close();
      }
      expect(await stop(svc), svc.output.join('').slice(-3000)).toBe(0);
    } finally {
      for (const n of nodes) await n.stop();
    }
  }, 180_000);
});

// The store directories a node uses are its own: a config must not name a shared one.
it('NATS configs parse (nats-server -t) and leave the store to each node', () => {
  for (const f of readdirSync(join(root, 'deploy/nats')).filter((n) => n.endsWith('.conf'))) {
    const path = join(root, 'deploy/nats', f);
    expect(statSync(path).isFile()).toBe(true);
    expect(readFileSync(path, 'utf8')).not.toMatch(/^\s*store_dir/m);
    const r = spawnSync('nats-server', ['-t', '-c', path], { encoding: 'utf8' });
    expect(r.status, `${f}: ${r.stderr}`).toBe(0);
  }
});
