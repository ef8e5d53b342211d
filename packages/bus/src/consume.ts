import { AckPolicy, DeliverPolicy, type ConsumerConfig, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { isPostbusError } from '@postbus/contracts';
import { SpanStatusCode, context, extractTraceContext, inLinkedSpan, startConsumerSpan, tracingEnabled, type Context, type Span, type TraceMode } from '@postbus/telemetry';
import type { Bus } from './connection.js';
import { isNotFound } from './provision.js';

export interface DurableSpec {
  readonly stream: string;
  readonly name: string;
  readonly filterSubject: string;
  readonly ackWaitMs: number;
  readonly maxAckPending: number;
  readonly maxDeliver?: number;
}

function durableConfig(spec: DurableSpec): Partial<ConsumerConfig> {
  return {
    durable_name: spec.name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: spec.filterSubject,
    ack_wait: spec.ackWaitMs * 1e6,
    max_ack_pending: spec.maxAckPending,
    max_deliver: spec.maxDeliver ?? -1,
  };
}

/** Creates the durable consumer if missing, updates what may change, and reads it back. */
export async function ensureDurable(bus: Bus, spec: DurableSpec): Promise<void> {
  const cfg = durableConfig(spec);
  try {
    const info = await bus.jsm.consumers.info(spec.stream, spec.name);
    const c = info.config;
    if (c.ack_wait !== cfg.ack_wait || c.max_ack_pending !== cfg.max_ack_pending || c.max_deliver !== cfg.max_deliver) {
      await bus.jsm.consumers.update(spec.stream, spec.name, { ack_wait: cfg.ack_wait!, max_ack_pending: cfg.max_ack_pending!, max_deliver: cfg.max_deliver! });
    }
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await bus.jsm.consumers.add(spec.stream, cfg);
  }
}

/**
 * Deletes the durable consumer (if any) and creates it afresh. On a work-queue stream nothing
 * is lost — unacknowledged messages stay in the stream — and everything a previous holder was
 * given but never acknowledged is deliverable again at once, rather than after its ack_wait.
 * A new owner of an account's work starts this way; its predecessor's consumer is gone.
 */
export async function recreateDurable(bus: Bus, spec: DurableSpec, opts: { fresh?: boolean } = {}): Promise<void> {
  // `fresh`: the caller knows no one ever consumed it (an account's first worker), so there is
  // nothing to hand back and one API call is saved — thousands, when a node starts.
  if (!opts.fresh) {
    try {
      await bus.jsm.consumers.delete(spec.stream, spec.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  try {
    await bus.jsm.consumers.add(spec.stream, durableConfig(spec));
  } catch (err) {
    if (!opts.fresh) throw err;
    // It existed after all (with another configuration): the full way.
    await recreateDurable(bus, spec);
  }
}

export interface BatchLoopOptions {
  readonly stream: string;
  readonly consumer: string;
  /** Read before each batch: settings change at runtime. */
  readonly batchSize: number | (() => number);
  readonly signal: AbortSignal;
  /** Settles every message it is given: ack, nak, term, or leave for redelivery after ack_wait. */
  readonly handle: (batch: JsMsg[]) => Promise<void>;
  readonly onError: (err: unknown) => void;
  /** Pause after a failed batch (infrastructure away), so a loop does not spin. */
  readonly backoffMs?: number;
  /** Name of each message's CONSUMER span (default `<consumer> process`). */
  readonly spanName?: string;
}

const contexts = new WeakMap<JsMsg, Context>();

/**
 * Runs `fn` in the trace context of the message's CONSUMER span (the span `runBatchLoop`
 * started for it as a child of the publisher's): what the handler publishes for that message
 * carries the same trace on. Without a message (or outside a batch loop), `fn` just runs.
 */
export function withMessageContext<T>(msg: JsMsg | undefined, fn: () => T): T {
  const ctx = msg ? contexts.get(msg) : undefined;
  return ctx ? context.with(ctx, fn) : fn();
}

/**
 * Runs `fn` (a publish made for several messages) in a span of its own linked to each message's
 * CONSUMER span: one event carrying many messages' facts cannot continue all their traces.
 */
export function withLinkedMessages<T>(name: string, msgs: readonly JsMsg[], fn: () => Promise<T>): Promise<T> {
  const linked = msgs.map((m) => contexts.get(m)).filter((c): c is Context => c !== undefined);
  return inLinkedSpan(name, linked, { 'messaging.system': 'nats', 'messaging.batch.message_count': msgs.length }, fn);
}

/** The trace context a message carries in its headers (`traceparent`, `tracestate`). */
export function messageTraceContext(msg: { readonly headers?: { get(key: string): string } | undefined }): Context {
  return extractTraceContext((key) => msg.headers?.get(key) || undefined);
}

/** One CONSUMER span per message of a batch, each continuing (or, for replays, linking to) the message's trace. */
export function startMessageSpans(name: string, batch: readonly JsMsg[], mode: TraceMode = 'child'): Span[] {
  if (!tracingEnabled()) return [];
  return batch.map((m) => {
    const { span, ctx } = startConsumerSpan(name, messageTraceContext(m), { 'messaging.system': 'nats', 'messaging.destination.name': m.subject, 'messaging.message.sequence': m.seq }, mode);
    contexts.set(m, ctx);
    return span;
  });
}

function endSpans(spans: readonly Span[], err?: unknown): void {
  for (const s of spans) {
    if (err !== undefined) s.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
    s.end();
  }
}

/**
 * Consumes a durable pull consumer in batches of whatever has arrived (up to batchSize),
 * without waiting for a batch to fill: latency stays low at low rates, batches grow under
 * load. A handler that throws leaves its messages unacknowledged: they come back after
 * ack_wait (Postgres or NATS away: the work waits; nothing is guessed).
 */
export async function runBatchLoop(bus: Bus, opts: BatchLoopOptions): Promise<void> {
  const backoff = opts.backoffMs ?? 1_000;
  const batchSize = typeof opts.batchSize === 'function' ? opts.batchSize : () => opts.batchSize as number;
  while (!opts.signal.aborted) {
    let messages: ConsumerMessages | undefined;
    try {
      const consumer = await bus.js.consumers.get(opts.stream, opts.consumer);
      messages = await consumer.consume({ max_messages: Math.max(batchSize() * 2, 10) });
      const stop = () => messages?.stop();
      opts.signal.addEventListener('abort', stop, { once: true });
      const queue: JsMsg[] = [];
      let wake: (() => void) | undefined;
      let done = false;
      const pump = (async () => {
        try {
          for await (const m of messages) {
            queue.push(m);
            wake?.();
          }
        } finally {
          done = true;
          wake?.();
        }
      })();
      while (!opts.signal.aborted) {
        if (queue.length === 0) {
          if (done) break;
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
          continue;
        }
        const batch = queue.splice(0, Math.max(1, batchSize()));
        const spans = startMessageSpans(opts.spanName ?? `${opts.consumer} process`, batch);
        try {
          await opts.handle(batch);
          endSpans(spans);
        } catch (err) {
          endSpans(spans, err);
          opts.onError(err);
          if (!opts.signal.aborted) await sleep(isPostbusError(err) && !err.retryable ? 0 : backoff, opts.signal);
        }
      }
      opts.signal.removeEventListener('abort', stop);
      messages.stop();
      await pump.catch(() => undefined);
    } catch (err) {
      if (opts.signal.aborted) break;
      opts.onError(err);
      messages?.stop();
      await sleep(backoff, opts.signal);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
