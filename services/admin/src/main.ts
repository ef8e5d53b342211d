import './tracing.js'; // first: starts tracing before pg and http load
import { AccountDirectory, connectBus, ensureStreams } from '@postbus/bus';
import { describeConfig, loadConfig, type PostbusConfig } from '@postbus/config';
import { streamSpecs, type Namespace } from '@postbus/contracts';
import { connectDatabase, migrate } from '@postbus/db';
import { Keyring, loadMasterKeyFiles, parseMasterKeys } from '@postbus/secrets';
import { createLogger, type Logger } from '@postbus/telemetry';
import { parseJwtKeys } from './adapters/auth.js';
import { buildAdmin } from './app.js';
import { AuthService } from './auth/login.js';

/**
 * The composition root: the only place that reads configuration and builds clients.
 * Shutdown runs in reverse: stop taking requests, then the directory, NATS, Postgres.
 */
async function keyringFrom(config: PostbusConfig): Promise<Keyring> {
  const { masterKeys, masterKeysDir, masterKeyId } = config.secrets;
  if (!masterKeys && !masterKeysDir) throw new Error('no master keys: set POSTBUS_MASTER_KEYS or POSTBUS_MASTER_KEYS_DIR');
  const keys = masterKeys ? parseMasterKeys(masterKeys) : await loadMasterKeyFiles(masterKeysDir);
  return new Keyring(keys, masterKeyId || keys[0]!.id);
}

async function main(log: Logger, config: PostbusConfig): Promise<void> {
  const closers: Array<{ name: string; close: () => Promise<unknown> }> = [];
  const shutdown = async () => {
    for (const c of closers.reverse()) {
      await c.close().catch((err: unknown) => log.warn({ err }, `closing ${c.name} failed`));
    }
  };
  try {
    if (!config.secrets.jwtSecret) throw new Error('POSTBUS_JWT_SECRET is not set');
    const jwtKeys = parseJwtKeys(config.secrets.jwtSecret);
    const cipher = await keyringFrom(config);
    const ns: Namespace = { prefix: config.namespace };
    const db = connectDatabase({
      url: config.databaseUrl,
      applicationName: 'postbus-admin',
      onError: (err) => log.warn({ err }, 'postgres pool error'),
    });
    closers.push({ name: 'postgres', close: () => db.dispose() });
    await migrate(db);
    await AuthService.bootstrap(db, config.admin.user, config.secrets.adminPassword, new Date());
    const bus = await connectBus({ servers: config.natsServers, name: 'postbus-admin', namespace: ns });
    closers.push({ name: 'nats', close: () => bus.close() });
    await ensureStreams(bus, streamSpecs(ns, { replicas: config.streamReplicas, logRetentionDays: config.logRetentionDays }));
    const directory = await AccountDirectory.start(bus, log);
    closers.push({ name: 'account directory', close: () => directory.stop() });
    const app = await buildAdmin({
      bus,
      db,
      directory,
      cipher,
      log,
      gmailTrustedTokenUris: config.gmail.trustedTokenUris,
      sponsors: { allowPrivateEndpoints: config.sponsorGateway.allowPrivateEndpoints },
      metricsToken: config.secrets.metricsToken,
      rateLimit: config.admin.rateLimit,
      userCacheMs: config.admin.userCacheMs,
      auth: {
        jwtSecret: jwtKeys[0]!.secret,
        jwtKeys,
        adminUser: config.admin.user,
        adminPassword: config.secrets.adminPassword,
      },
    });
    closers.push({ name: 'http server', close: () => app.close() });
    await app.listen({ host: config.admin.host, port: config.admin.port });
  } catch (err) {
    await shutdown();
    throw err;
  }

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    void shutdown().then(() => process.exit(0));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

const config = loadConfig();
const log = createLogger({ service: 'admin', level: config.logLevel });
log.info({ config: describeConfig(config) }, 'starting admin');
main(log, config).catch((err: unknown) => {
  log.fatal({ err }, 'admin failed to start');
  process.exitCode = 1;
});
