import './tracing.js'; // first: starts tracing before pg and http load
import { connectBus, ensureStreams, streamReader } from '@postbus/bus';
import { describeConfig, loadConfig } from '@postbus/config';
import { streamSpecs } from '@postbus/contracts';
import { connectDatabase, migrate, sql } from '@postbus/db';
import { createLogger, onShutdown, startHealthServer } from '@postbus/telemetry';
import { buildProjector } from './app.js';

// Composition root: the only place that reads configuration and builds clients.
const config = loadConfig();
const log = createLogger({ service: 'projector', level: config.logLevel });
log.info({ config: describeConfig(config) }, 'starting');

const ns = { prefix: config.namespace };
const bus = await connectBus({ servers: config.natsServers, name: 'postbus-projector', namespace: ns });
await ensureStreams(bus, streamSpecs(ns, { replicas: config.streamReplicas, logRetentionDays: config.logRetentionDays }));
const db = connectDatabase({ url: config.databaseUrl, applicationName: 'postbus-projector', poolSize: 6 });
await migrate(db);

const projector = buildProjector({ db, reader: streamReader(bus), ns, log, batchSize: config.projector.batchSize });
const controller = new AbortController();
const running = projector.start(controller.signal);
const health = await startHealthServer(config.projector.healthPort, async () => {
  if (bus.nc.isClosed()) return false;
  await db.query(sql`SELECT 1`);
  return true;
}, undefined, { metricsToken: config.secrets.metricsToken });
log.info({ projections: projector.projections.map((p) => p.name), healthPort: health.port }, 'projector ready');

// Graceful stop: the work in hand is finished, then connections close.
onShutdown(log, [
  () => controller.abort(),
  () => running,
  () => health.close(),
  () => bus.close(),
  () => db.dispose(),
]);
