import { AccountDirectory, connectBus, ensureBuckets, ensureStreams } from '@postbus/bus';
import { describeConfig, loadConfig } from '@postbus/config';
import { bucketSpecs, streamSpecs } from '@postbus/contracts';
import { connectDatabase, migrate } from '@postbus/db';
import { createLogger, onShutdown, startHealthServer } from '@postbus/telemetry';
import { WebhookNotifier } from './alerts.js';
import { buildOrchestrator } from './app.js';

// Composition root: the only place that reads configuration and builds clients.
const config = loadConfig();
const log = createLogger({ service: 'orchestrator', level: config.logLevel });
log.info({ config: describeConfig(config) }, 'starting');

const ns = { prefix: config.namespace };
const bus = await connectBus({ servers: config.natsServers, name: 'postbus-orchestrator', namespace: ns });
const opts = { replicas: config.streamReplicas, logRetentionDays: config.logRetentionDays };
await ensureStreams(bus, streamSpecs(ns, opts));
await ensureBuckets(bus, bucketSpecs(ns, opts));
const db = connectDatabase({ url: config.databaseUrl, applicationName: 'postbus-orchestrator' });
await migrate(db);
const directory = await AccountDirectory.start(bus, log);
const { alertWebhookUrl, instanceId, backlogAlertThreshold, reconcileIntervalMs } = config.orchestrator;
const notifiers = alertWebhookUrl ? [new WebhookNotifier(alertWebhookUrl, config.secrets.alertWebhookSecret)] : [];
const orchestrator = buildOrchestrator({ bus, db, directory, log, instanceId, reconcileIntervalMs, notifiers, backlogThreshold: backlogAlertThreshold });
const controller = new AbortController();
const running = orchestrator.run(controller.signal);
const health = await startHealthServer(config.orchestrator.healthPort, async () => !bus.nc.isClosed());
log.info({ healthPort: health.port }, 'orchestrator ready');

// Graceful stop: the work in hand is finished, then connections close.
onShutdown(log, [
  () => controller.abort(),
  () => running,
  () => directory.stop(),
  () => health.close(),
  () => bus.close(),
  () => db.dispose(),
]);
