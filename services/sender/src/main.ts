import './tracing.js'; // first: starts tracing before pg and http load
import { AccountDirectory, RuntimeSettingsWatch, connectBus, ensureBuckets, ensureStreams } from '@postbus/bus';
import { describeConfig, loadConfig } from '@postbus/config';
import { DEFAULT_RUNTIME_SETTINGS, bucketSpecs, streamSpecs, trackingFor } from '@postbus/contracts';
import { connectDatabase, migrate } from '@postbus/db';
import { loadKeyring, loadTokenKeyring } from '@postbus/secrets';

import { createLogger, onShutdown, startHealthServer } from '@postbus/telemetry';
import { buildSender } from './app.js';

// Composition root: the only place that reads configuration and builds clients.
const config = loadConfig();
const log = createLogger({ service: 'sender', level: config.logLevel });
log.info({ config: describeConfig(config) }, 'starting');

const ns = { prefix: config.namespace };
const cipher = await loadKeyring(config.secrets);
const tokens = await loadTokenKeyring(config.secrets);
const bus = await connectBus({ servers: config.natsServers, name: `postbus-sender-${config.sender.nodeId}`, namespace: ns });
const specOptions = { replicas: config.streamReplicas, logRetentionDays: config.logRetentionDays };
await ensureStreams(bus, streamSpecs(ns, specOptions));
await ensureBuckets(bus, bucketSpecs(ns, specOptions));
// Runtime settings (KV `postbus_config`): the platform-wide tracking switches, among others.
const runtime = await RuntimeSettingsWatch.start(bus, DEFAULT_RUNTIME_SETTINGS, log);
const db = connectDatabase({ url: config.databaseUrl, applicationName: 'postbus-sender', poolSize: 20 });
await migrate(db);
const directory = await AccountDirectory.start(bus, log);
const node = buildSender({
  bus,
  db,
  directory,
  cipher,
  log,
  compliance: {
    tokens,
    trackingBase: config.tracking.publicUrl,
    feedbackSenderId: config.sender.feedbackSenderId,
    ...(config.bounces.unsubscribeMailbox ? { unsubscribeMailbox: config.bounces.unsubscribeMailbox } : {}),
    tracking: (campaignId) => trackingFor(runtime.get(), campaignId),
  },
  nodeId: config.sender.nodeId,
  capacity: config.sender.capacity,
  retryDelaysMs: config.orchestrator.retryDelaysMs,
  smtpTimeoutMs: config.sender.smtpTimeoutMs,
  clientName: config.sender.clientName,
  sendsPerEvent: config.sender.sendsPerEvent,
  sentLingerMs: config.sender.sentLingerMs,
  gmail: {
    apiUrl: config.gmail.apiUrl,
    trustedTokenUris: config.gmail.trustedTokenUris,
    sendsPerMinute: config.gmail.sendsPerMinute,
    sentLookupWindowMs: config.gmail.sentLookupWindowMs,
  },
});
const controller = new AbortController();
await node.start(controller.signal);
const health = await startHealthServer(config.sender.healthPort, async () => !bus.nc.isClosed(), undefined, { metricsToken: config.secrets.metricsToken });
log.info({ nodeId: node.nodeId, capacity: config.sender.capacity, healthPort: health.port }, 'sender ready');

// Graceful stop: the work in hand is finished, then connections close.
onShutdown(log, [
  () => controller.abort(),
  () => node.stop(),
  () => directory.stop(),
  () => runtime.stop(),
  () => health.close(),
  () => bus.close(),
  () => db.dispose(),
]);
