import { DeliverPolicy, type ConsumerMessages } from '@nats-io/jetstream';
import type { StoredMessage, StreamCursor, StreamReader } from '@postbus/contracts';
import type { Bus } from './connection.js';

/**
 * Ordered reads of a stream from a sequence on (an ephemeral ordered consumer), for
 * projections, replays and aggregates. Nothing about the reader is durable: positions are
 * kept by whoever reads (the projections keep theirs in Postgres).
 */
export function streamReader(bus: Bus): StreamReader {
  return {
    async open(stream, fromSeq) {
      return openCursor(bus, stream, fromSeq);
    },
    async lastSeq(stream) {
      const info = await bus.jsm.streams.info(stream);
      return info.state.last_seq;
    },
  };
}

export async function openCursor(bus: Bus, stream: string, fromSeq: number, filterSubject?: string): Promise<StreamCursor> {
  const consumer = await bus.js.consumers.get(stream, {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: Math.max(1, fromSeq),
    ...(filterSubject ? { filter_subjects: filterSubject } : {}),
  });
  const messages: ConsumerMessages = await consumer.consume({ max_messages: 1_000 });
  const buffer: StoredMessage[] = [];
  let wake: (() => void) | undefined;
  let failure: unknown;
  let ended = false;
  let drained: (() => void) | undefined;
  const pump = (async () => {
    try {
      for await (const m of messages) {
        const traceparent = m.headers?.get('traceparent');
        const trace = traceparent ? { traceparent, ...(m.headers?.get('tracestate') ? { tracestate: m.headers.get('tracestate') } : {}) } : undefined;
        buffer.push({ stream, seq: m.seq, subject: m.subject, data: m.data, ...(trace ? { trace } : {}) });
        wake?.();
        // Backpressure: a replay of millions must not sit in memory at once.
        if (buffer.length >= 5_000) await new Promise<void>((r) => (drained = r));
      }
    } catch (err) {
      failure = err;
    } finally {
      ended = true;
      wake?.();
    }
  })();
  return {
    async next(max, waitMs) {
      if (buffer.length === 0 && !ended) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, waitMs);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = undefined;
      }
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows whatever the pump caught, as it was
      if (buffer.length === 0 && failure) throw failure;
      if (buffer.length === 0 && ended) throw new Error(`reader of ${stream} ended`);
      const out = buffer.splice(0, max);
      if (buffer.length < 5_000) {
        drained?.();
        drained = undefined;
      }
      return out;
    },
    async close() {
      messages.stop();
      drained?.();
      await pump;
    },
  };
}
