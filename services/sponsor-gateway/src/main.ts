import './tracing.js'; // first: starts tracing before pg and http load
import { connectBus, ensureStreams } from '@postbus/bus';
import { describeConfig, loadConfig } from '@postbus/config';
import { streamSpecs, type Namespace } from '@postbus/contracts';
import { connectDatabase, migrate } from '@postbus/db';
import { loadKeyring, loadLeadTokens } from '@postbus/secrets';
import { createLogger, onShutdown } from '@postbus/telemetry';
import { LeadForwarder } from './adapters/forwarder.js';
import { buildGateway } from './app.js';

/**
 * The composition root: the only place that reads configuration and builds clients.
 * Shutdown runs in reverse: stop taking requests, stop the forwarder (an attempt in flight
 * finishes; a lead it had leased is due again once the lease ends), then NATS and Postgres.
 */
const config = loadConfig();
const log = createLogger({ service: 'sponsor-gateway', level: config.logLevel });
log.info({ config: describeConfig(config) }, 'starting sponsor gateway');
const gw = config.sponsorGateway;
if (gw.allowPrivateEndpoints) log.warn('POSTBUS_SPONSOR_ALLOW_PRIVATE_ENDPOINTS=1: leads may be forwarded over plain http and to private addresses (tests only)');

const cipher = await loadKeyring(config.secrets);
const leadTokens = await loadLeadTokens(config.secrets);
const ns: Namespace = { prefix: config.namespace };
const db = connectDatabase({ url: config.databaseUrl, applicationName: 'postbus-sponsor-gateway', onError: (err) => log.warn({ err }, 'postgres pool error') });
await migrate(db);
const bus = await connectBus({ servers: config.natsServers, name: 'postbus-sponsor-gateway', namespace: ns });
await ensureStreams(bus, streamSpecs(ns, { replicas: config.streamReplicas, logRetentionDays: config.logRetentionDays }));

const app = await buildGateway({ bus, db, cipher, leadTokens, log, corsOrigins: gw.corsOrigins, metricsToken: config.secrets.metricsToken });
const forwarder = new LeadForwarder(
  { bus, db, cipher, log },
  { pollMs: gw.forwardPollMs, retryBaseMs: gw.retryBaseMs, maxAttempts: gw.maxAttempts, timeoutMs: gw.forwardTimeoutMs, allowPrivateEndpoints: gw.allowPrivateEndpoints },
);
forwarder.start();
await app.listen({ host: gw.host, port: gw.port });
log.info({ port: gw.port, corsOrigins: gw.corsOrigins.length }, 'sponsor gateway ready');

onShutdown(log, [
  () => app.close(),
  () => forwarder.stop(),
  () => bus.close(),
  () => db.dispose(),
]);
