import './tracing.js'; // first: starts tracing before pg and http load
import { AccountDirectory, connectBus, ensureStreams } from '@postbus/bus';
import { describeConfig, loadConfig } from '@postbus/config';
import { streamSpecs } from '@postbus/contracts';
import { connectDatabase, migrate } from '@postbus/db';
import { loadKeyring, loadTokenKeyring } from '@postbus/secrets';
import { createLogger, onShutdown, startHealthServer } from '@postbus/telemetry';
import { GmailMailboxes } from './adapters/gmail.js';
import { GmailPoller } from './gmail-poller.js';
import { FeedbackPoller } from './poller.js';

// Composition root: the only place that reads configuration and builds clients.
const config = loadConfig();
const log = createLogger({ service: 'bounce-processor', level: config.logLevel });
log.info({ config: describeConfig(config) }, 'starting');

const ns = { prefix: config.namespace };
const cipher = await loadKeyring(config.secrets);
const tokens = await loadTokenKeyring(config.secrets);
const db = connectDatabase({ url: config.databaseUrl, applicationName: 'postbus-bounce-processor', onError: (err) => log.warn({ err }, 'postgres pool error') });
await migrate(db);
const bus = await connectBus({ servers: config.natsServers, name: 'postbus-bounce-processor', namespace: ns });
await ensureStreams(bus, streamSpecs(ns, { replicas: config.streamReplicas, logRetentionDays: config.logRetentionDays }));

const directory = await AccountDirectory.start(bus, log);

const b = config.bounces;
const processorDeps = { db, bus, log, tokens, softBounce: { limit: b.softBounceLimit, windowMs: b.softBounceWindowDays * 86_400_000 } };
const gmail = new GmailPoller(
  {
    ...processorDeps,
    accounts: () => directory.all(),
    mailboxes: new GmailMailboxes(db, cipher, { apiUrl: config.gmail.apiUrl, trustedTokenUris: config.gmail.trustedTokenUris }),
  },
  { intervalMs: b.pollIntervalMs, maxReportBytes: b.maxReportBytes },
);
const poller = new FeedbackPoller(
  { ...processorDeps, cipher, gmail },
  {
    intervalMs: b.pollIntervalMs,
    maxReportBytes: b.maxReportBytes,
    instanceId: `bounce-processor-${process.pid}`,
    thresholds: {
      minSample: b.rateMinSample,
      hardBouncePause: b.hardBouncePausePercent / 100,
      complaintAlert: b.complaintAlertPercent / 100,
      complaintPause: b.complaintPausePercent / 100,
      policyAlert: b.policyAlertPercent / 100,
    },
  },
);
const controller = new AbortController();
const running = poller.run(controller.signal);
const health = await startHealthServer(b.healthPort, async () => !bus.nc.isClosed(), undefined, { metricsToken: config.secrets.metricsToken });
log.info({ healthPort: health.port, pollIntervalMs: b.pollIntervalMs }, 'bounce processor ready');

onShutdown(log, [
  () => controller.abort(),
  () => running,
  () => health.close(),
  () => directory.stop(),
  () => bus.close(),
  () => db.dispose(),
]);
