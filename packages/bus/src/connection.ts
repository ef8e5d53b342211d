import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { InfrastructureError, subjectsFor, type Namespace, type Subjects } from '@postbus/contracts';

export interface Bus {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly ns: Namespace;
  readonly subjects: Subjects;
  close(): Promise<void>;
}

export interface BusOptions {
  readonly servers: readonly string[];
  readonly name: string;
  readonly namespace: Namespace;
  /** Give up connecting after this long (a clear error beats a hang at start-up). */
  readonly connectTimeoutMs?: number;
}

export async function connectBus(opts: BusOptions): Promise<Bus> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: [...opts.servers],
      name: opts.name,
      timeout: opts.connectTimeoutMs ?? 5_000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      pingInterval: 10_000,
      // An Error (with its stack) per request costs more than the publish itself at our rates.
      noAsyncTraces: true,
    });
  } catch (err) {
    throw new InfrastructureError('nats_unreachable', `cannot connect to NATS at ${opts.servers.join(', ')}`, err);
  }
  const jsm = await jetstreamManager(nc, { timeout: 10_000 }).catch((err: unknown) => {
    void nc.close();
    throw new InfrastructureError('jetstream_unavailable', 'NATS is reachable but JetStream is not enabled (start nats-server with -js)', err);
  });
  const js = jetstream(nc, { timeout: 10_000 });
  return {
    nc,
    js,
    jsm,
    ns: opts.namespace,
    subjects: subjectsFor(opts.namespace),
    async close() {
      await nc.drain().catch(() => nc.close());
    },
  };
}
