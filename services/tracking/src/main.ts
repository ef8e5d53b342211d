import './tracing.js'; // first: starts tracing before pg and http load
import { connectBus, ensureStreams } from '@postbus/bus';
import { describeConfig, loadConfig } from '@postbus/config';
import { streamSpecs, type Namespace } from '@postbus/contracts';
import { connectDatabase, migrate } from '@postbus/db';
import { loadLeadTokens, loadTokenKeyring } from '@postbus/secrets';
import { createLogger, onShutdown } from '@postbus/telemetry';
import { ensureOutbox } from './adapters/outbox.js';
import { buildTracking } from './app.js';
import { startReconciler } from './reconciler.js';

/**
 * The composition root: the only place that reads configuration and builds clients.
 * Shutdown (SIGTERM/SIGINT) runs in reverse: stop taking requests — app.close() flushes the
 * buffered opens and waits for them and the clicks' publishes — stop the reconciler, then NATS
 * and Postgres. Only a crash loses opens (at most one flush interval, see adapters/hits.ts).
 */
const RECONCILE_INTERVAL_MS = 30_000;

const config = loadConfig();
const log = createLogger({ service: 'tracking', level: config.logLevel });
log.info({ config: describeConfig(config) }, 'starting tracking');

const tokens = await loadTokenKeyring(config.secrets);
const leadTokens = await loadLeadTokens(config.secrets);
const ns: Namespace = { prefix: config.namespace };
const db = connectDatabase({ url: config.databaseUrl, applicationName: 'postbus-tracking', onError: (err) => log.warn({ err }, 'postgres pool error') });
await migrate(db);
await ensureOutbox(db);
const bus = await connectBus({ servers: config.natsServers, name: 'postbus-tracking', namespace: ns });
await ensureStreams(bus, streamSpecs(ns, { replicas: config.streamReplicas, logRetentionDays: config.logRetentionDays }));

const app = await buildTracking({ bus, natsServers: config.natsServers, db, tokens, leadTokens, leadTokenTtlSeconds: config.sponsorGateway.leadTokenTtlSeconds, log, metricsToken: config.secrets.metricsToken });
const reconciler = startReconciler({ bus, db, log }, { intervalMs: RECONCILE_INTERVAL_MS });
await app.listen({ host: config.tracking.host, port: config.tracking.port });
log.info({ keys: tokens.keyIds.length, currentKeyId: tokens.currentKeyId }, 'tracking ready');

onShutdown(log, [
  () => app.close(),
  () => reconciler.stop(),
  () => bus.close(),
  () => db.dispose(),
]);
