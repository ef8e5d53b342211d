import { AccountDirectory, connectBus, ensureStreams } from '@postbus/bus';
import { describeConfig, loadConfig } from '@postbus/config';
import { streamSpecs } from '@postbus/contracts';
import { connectDatabase, migrate } from '@postbus/db';
import { loadKeyring } from '@postbus/secrets';

import { createLogger, onShutdown, startHealthServer } from '@postbus/telemetry';
import { buildSender } from './app.js';

// Composition root: the only place that reads configuration and builds clients.
const config = loadConfig();
const log = createLogger({ service: 'sender', level: config.logLevel });
log.info({ config: describeConfig(config) }, 'starting');

const ns = { prefix: config.namespace };
const cipher = await loadKeyring(config.secrets);
const bus = await connectBus({ servers: config.natsServers, name: `postbus-sender-${config.sender.nodeId}`, namespace: ns });
await ensureStreams(bus, streamSpecs(ns, { replicas: config.streamReplicas, logRetentionDays: config.logRetentionDays }));
const db = connectDatabase({ url: config.databaseUrl, applicationName: 'postbus-sender', poolSize: 20 });
await migrate(db);
const directory = await AccountDirectory.start(bus, log);
const node = buildSender({
  bus,
  db,
  directory,
  cipher,
  log,
  accounts: config.sender.accounts,
  retryDelaysMs: config.orchestrator.retryDelaysMs,
  smtpTimeoutMs: config.sender.smtpTimeoutMs,
  clientName: config.sender.clientName,
});
const controller = new AbortController();
node.start(controller.signal);
const health = await startHealthServer(config.sender.healthPort, async () => !bus.nc.isClosed());
log.info({ accounts: node.accountIds.length, healthPort: health.port }, 'sender ready');

// Graceful stop: the work in hand is finished, then connections close.
onShutdown(log, [
  () => controller.abort(),
  () => node.stop(),
  () => directory.stop(),
  () => health.close(),
  () => bus.close(),
  () => db.dispose(),
]);
