import './tracing.js'; // first: starts tracing before pg and http load
import { AccountDirectory, RuntimeSettingsWatch, connectBus, ensureBuckets, ensureStreams } from '@postbus/bus';
import { describeConfig, loadConfig } from '@postbus/config';
import { DEFAULT_RUNTIME_SETTINGS, bucketSpecs, streamSpecs } from '@postbus/contracts';
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
const { alertWebhookUrl, instanceId, backlogAlertThreshold, reconcileIntervalMs, campaignWindow, queuedPerEvent } = config.orchestrator;
const notifiers = alertWebhookUrl ? [new WebhookNotifier(alertWebhookUrl, config.secrets.alertWebhookSecret)] : [];
// Runtime settings: KV `postbus_config` → `runtime`, over the defaults from the environment.
const runtime = await RuntimeSettingsWatch.start(bus, { ...DEFAULT_RUNTIME_SETTINGS, backlogAlertThreshold }, log);
const orchestrator = buildOrchestrator({ bus, db, directory, log, instanceId, reconcileIntervalMs, campaignWindow, queuedPerEvent, notifiers, settings: () => runtime.get() });
const controller = new AbortController();
const running = orchestrator.run(controller.signal);
const health = await startHealthServer(config.orchestrator.healthPort, async () => !bus.nc.isClosed(), undefined, { metricsToken: config.secrets.metricsToken });
log.info({ healthPort: health.port }, 'orchestrator ready');

// Graceful stop: the work in hand is finished, then connections close.
onShutdown(log, [
  () => controller.abort(),
  () => running,
  () => directory.stop(),
  () => runtime.stop(),
  () => health.close(),
  () => bus.close(),
  () => db.dispose(),
]);
