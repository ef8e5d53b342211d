import { parentPort, workerData } from 'node:worker_threads';
import { connectBus, type Bus } from '@postbus/bus';
import type { HitSource } from '@postbus/contracts';
import { TokenKeyring } from '@postbus/secrets';
import { createLogger } from '@postbus/telemetry';
import type { FromOpenWorker, OpenWorkerData, ToOpenWorker } from './adapters/open-worker.js';
import { InlineOpens } from './adapters/opens.js';

/**
 * The open worker's thread (adapters/open-worker.ts): takes batches of opens from the main
 * thread, opens their tokens and records them (InlineOpens over a NATS connection of its own),
 * reports each batch done with its sources counted, and on `close` flushes, waits for the
 * acknowledgements and exits. Its log lines go to the main thread, which writes them through the service's logger.
 */
const port = parentPort!;
const data = workerData as OpenWorkerData;
const post = (m: FromOpenWorker) => port.postMessage(m);

const log = createLogger({ service: 'tracking', level: data.logLevel, destination: { write: (line: string) => post({ t: 'log', line }) } });
const tokens = new TokenKeyring(
  data.tokens.keys.map(({ id, key }) => ({ id, key: Buffer.from(key) })),
  data.tokens.currentKeyId,
);

let bus: Bus;
try {
  bus = await connectBus({ servers: [...data.bus.servers], name: data.bus.name, namespace: data.bus.namespace });
} catch (err) {
  log.error({ err }, 'open worker cannot connect to NATS');
  process.exit(1);
}

let sources: Partial<Record<HitSource, number>> = {};
const opens = new InlineOpens(tokens, bus, log, data.recorder, (source) => {
  sources[source] = (sources[source] ?? 0) + 1;
});

let closing = false;
// Attached once connected: until then the port keeps what the main thread sends.
port.on('message', (m: ToOpenWorker) => {
  if (m.t === 'close') {
    if (closing) return;
    closing = true;
    void opens
      .close()
      .then(() => bus.close())
      .then(() => process.exit(0)); // ends this thread only
    return;
  }
  const batch = m.opens;
  for (let i = 0; i < batch.length; i += 3) {
    const userAgent = batch[i + 1] as string;
    opens.record(batch[i] as string, userAgent === '' ? undefined : userAgent, batch[i + 2] as number);
  }
  post({ t: 'done', n: batch.length / 3, sources, pending: opens.pending });
  sources = {};
});
post({ t: 'ready' });
