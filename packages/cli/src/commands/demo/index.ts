import { existsSync, mkdirSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@postbus/config';
import type { TextOut } from '../../progress.js';
import { Admin, findEarlierAccount, logIn, poll, registerAccount, sendMessages, waitUntilSent, DEMO_FROM } from './api.js';
import { startCatcher, type Catcher } from './catcher.js';
import { checkNats, checkPostgres, errorText, safeUrl } from './checks.js';
import { SERVICES, ServiceDied, Services, pickPort, tail } from './services.js';
import { printSummary } from './summary.js';
import { demoPaths, loadOrCreateSecrets } from './workspace.js';

/**
 * `postbus demo`: the whole platform on this machine — the four services as processes, an
 * SMTP catcher that writes every message to a file, one account, five messages — and a
 * summary of where to look. Ctrl-C (or SIGTERM) stops everything; `--exit` stops at once.
 */

export { DEMO_FROM } from './api.js';
export { NATS_START_COMMAND, POSTGRES_START_COMMAND, tcpReachable } from './checks.js';

export const DEMO_DATABASE_URL = 'postgres://root@127.0.0.1:5432/postbus_demo';
export const DEMO_NAMESPACE = 'demo';

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

/** packages/cli/{src,dist}/commands/demo/index.{ts,js} → the repository. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../../', import.meta.url));

class Interrupted extends Error {
  constructor(readonly signal: string) {
    super(`interrupted by ${signal}`);
  }
}

function processSignals(handler: (signal: string) => void): () => void {
  const h = (s: NodeJS.Signals) => handler(s);
  process.on('SIGINT', h);
  process.on('SIGTERM', h);
  return () => {
    process.off('SIGINT', h);
    process.off('SIGTERM', h);
  };
}

/** How a browser or curl on this machine reaches a server bound to host. */
function urlHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
}

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
  const unsubscribe = (o.onSignal ?? processSignals)((signal) => {
    if (++signals === 1) abort(new Interrupted(signal));
    else services.kill(); // a second Ctrl-C: no more waiting
  });
  // Last resort if this process ends without stopping them (an uncaught error).
  const killOnExit = () => services.kill('SIGTERM');
  process.once('exit', killOnExit);

  let catcher: Catcher | undefined;
  try {
    // 3. the SMTP catcher
    catcher = await startCatcher(paths.mail);
    out(`SMTP       ${catcher.host}:${catcher.port}, catching mail into ${show(paths.mail)}/`);

    // 4. the services
    const adminHost = config.admin.host;
    const adminPort = await pickPort(config.admin.port, adminHost);
    const adminUrl = `http://${urlHost(adminHost)}:${adminPort}`;
    // Unsubscribe links, tracked links and the open pixel in the demo's mail point here.
    const trackingPort = await pickPort(config.tracking.port, config.tracking.host);
    const trackingUrl = `http://${urlHost(config.tracking.host)}:${trackingPort}`;
    const sponsorGatewayPort = await pickPort(config.sponsorGateway.port, config.sponsorGateway.host);
    const serviceEnv: Record<string, string | undefined> = {
      ...baseEnv,
      POSTBUS_MASTER_KEYS_DIR: undefined,
      POSTBUS_MASTER_KEY_ID: undefined,
      ...secrets,
      POSTBUS_NATS_URL: config.natsServers.join(','),
      POSTBUS_ADMIN_HOST: adminHost,
      POSTBUS_ADMIN_PORT: String(adminPort),
      POSTBUS_ADMIN_PUBLIC_URL: adminUrl,
      POSTBUS_TRACKING_HOST: config.tracking.host,
      POSTBUS_TRACKING_PORT: String(trackingPort),
      POSTBUS_TRACKING_PUBLIC_URL: trackingUrl,
      POSTBUS_SPONSOR_GATEWAY_HOST: config.sponsorGateway.host,
      POSTBUS_SPONSOR_GATEWAY_PORT: String(sponsorGatewayPort),
    };
    for (const k of Object.keys(serviceEnv)) if (serviceEnv[k] === undefined) delete serviceEnv[k];
    for (const name of SERVICES) services.start(name, serviceEnv);
    out(`Services   ${SERVICES.join(', ')} started (pids ${services.pids.join(', ')}), logs in ${show(paths.logs)}/`);

    const admin = new Admin(adminUrl, ac.signal);
    await poll(ac.signal, 'the admin API to be ready', o.adminReadyTimeoutMs ?? 30_000, async () => ((await admin.request('GET', '/readyz')).status === 200 ? true : undefined));
    out(`Admin API  ${adminUrl} is ready`);
    out(`Tracking   ${trackingUrl} (the unsubscribe, click and open links in the demo's mail)`);

    // 5. log in, an account, five messages
    await logIn(admin, config.admin.user, secrets.POSTBUS_ADMIN_PASSWORD);

    // Reuse this catcher's account from an earlier run when its secrets are ours; otherwise register one.
    let accountId = !secretsCreated && !pg.created ? await findEarlierAccount(admin, catcher) : undefined;
    if (accountId) {
      out(`Account    ${accountId} (${DEMO_FROM} via ${catcher.host}:${catcher.port}, from an earlier run)`);
    } else {
      accountId = await registerAccount(admin, catcher);
      out(`Account    ${accountId} registered (${DEMO_FROM} via ${catcher.host}:${catcher.port}, 100 a day)`);
    }

    const ids = await sendMessages(admin, accountId);
    out(`Messages   ${ids.length} requested; waiting until they are sent ...`);
    const states = await waitUntilSent(admin, ids, o.sentTimeoutMs ?? 60_000, ac.signal);

    // 6. the summary
    printSummary(out, {
      ids,
      states,
      catcher,
      adminUrl,
      adminUser: config.admin.user,
      adminPassword: secrets.POSTBUS_ADMIN_PASSWORD,
      token: admin.token,
      paths,
      show,
    });

    if (o.exitWhenDone) {
      out('--exit: stopping.');
      return await stopAll(0);
    }
    out('Press Ctrl-C to stop.');
    await new Promise<void>((resolve) => (ac.signal.aborted ? resolve() : ac.signal.addEventListener('abort', () => resolve(), { once: true })));
    ac.signal.throwIfAborted();
    return await stopAll(0);
  } catch (e) {
    // A signal or a dying service aborts whatever step was running; the abort reason is the real story.
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
