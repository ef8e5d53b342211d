import { DeliverPolicy } from '@nats-io/jetstream';
import type { Bus } from './connection.js';

export interface LogEntry {
  readonly stream: string;
  readonly seq: number;
  readonly subject: string;
  /** When the server stored the message. */
  readonly time: Date;
  readonly data: Uint8Array;
  /** Messages matching the filter still after this one when it was delivered. */
  readonly pending: number;
  /** The trace context the message was published with (W3C headers), if any: a replay links to it. */
  readonly trace?: Readonly<Record<string, string>>;
}

export interface ReadLogOptions {
  readonly stream: string;
  /** One subject filter (nats-server 2.9 has no multi-filter consumers). */
  readonly filterSubject?: string;
  /** Start at the first message stored at or after this time (JetStream's `opt_start_time`). */
  readonly since?: Date;
  /** Start at this stream sequence (ignored when `since` is given). */
  readonly fromSeq?: number;
  /** A fetch that brings nothing for this long ends the read (nothing matched the filter). */
  readonly idleMs?: number;
  readonly batch?: number;
}

/**
 * Reads a stream once, in order, up to what it held when the read reached the end, through an
 * ephemeral ordered consumer (no acks, nothing durable; deleted when the read ends). For
 * replays and inspections: the live services keep their own consumers.
 */
export async function* readLog(bus: Bus, opts: ReadLogOptions): AsyncGenerator<LogEntry> {
  const start = opts.since
    ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: opts.since.toISOString() }
    : opts.fromSeq && opts.fromSeq > 1
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: opts.fromSeq }
      : { deliver_policy: DeliverPolicy.All };
  const consumer = await bus.js.consumers.get(opts.stream, { ...start, ...(opts.filterSubject ? { filter_subjects: opts.filterSubject } : {}) });
  try {
    let done = false;
    while (!done) {
      const batch = await consumer.fetch({ max_messages: opts.batch ?? 500, expires: opts.idleMs ?? 1_000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        const traceparent = m.headers?.get('traceparent');
        const tracestate = m.headers?.get('tracestate');
        const trace = traceparent ? { traceparent, ...(tracestate ? { tracestate } : {}) } : undefined;
        yield { stream: opts.stream, seq: m.seq, subject: m.subject, time: new Date(Math.floor(m.info.timestampNanos / 1e6)), data: m.data, pending: m.info.pending, ...(trace ? { trace } : {}) };
        if (m.info.pending === 0) {
          done = true;
          batch.stop();
          break;
        }
      }
      if (got === 0) done = true;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
}
