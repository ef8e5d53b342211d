import { connectBus, ensureStreams, streamReader } from '@postbus/bus';
import { describeConfig, loadConfig } from '@postbus/config';
import { streamSpecs } from '@postbus/contracts';
import { connectDatabase, migrate, sql } from '@postbus/db';
import { createLogger, startHealthServer } from '@postbus/telemetry';
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
});
log.info({ projections: projector.projections.map((p) => p.name), healthPort: health.port }, 'projector ready');

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping: finishing the batches in hand');
  controller.abort();
  await running;
  await health.close();
  await bus.close();
  await db.dispose();
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
