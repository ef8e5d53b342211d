import { createRequire, syncBuiltinESMExports } from 'node:module';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { ScrubbingSpanProcessor, routeTemplate } from './scrub.js';

export { SpanKind, SpanStatusCode, context, trace, type Attributes, type Context, type ReadableSpan, type Span };

export interface TracingOptions {
  readonly service: string;
  /** OTLP/HTTP base URL (`…:4318`; `/v1/traces` is added) or the full traces URL; empty: off. */
  readonly endpoint: string;
  /** Tests: processors after the scrubber (an in-memory exporter). */
  readonly spanProcessors?: readonly SpanProcessor[];
  /** Milliseconds between exports (default 2 s). */
  readonly exportDelayMs?: number;
}

export interface Tracing {
  readonly enabled: boolean;
  /** Ends the SDK, exporting what is still buffered. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { enabled: false, shutdown: () => Promise.resolve() };
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
let current: Tracing | undefined;

export function tracesUrl(endpoint: string): string {
  const base = endpoint.replace(/\/+$/, '');
  return base.endsWith('/v1/traces') ? base : `${base}/v1/traces`;
}

/**
 * Starts the OpenTelemetry Node SDK once per process. It must run before `pg` and `http` are
 * first loaded — the instrumentations patch them as they are `require`d (both are CommonJS,
 * loaded by CommonJS packages even from our ESM) — so each service imports its
 * `src/tracing.ts`, which calls this, as the first import of `main.ts`.
 */
export function startTracing(opts: TracingOptions): Tracing {
  if (current) return current;
  if (!opts.endpoint && !opts.spanProcessors?.length) return OFF;
  const processors: SpanProcessor[] = [new ScrubbingSpanProcessor()];
  if (opts.endpoint) {
    processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(opts.endpoint) }), { scheduledDelayMillis: opts.exportDelayMs ?? 2_000 }));
  }
  processors.push(...(opts.spanProcessors ?? []));
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: opts.service }),
    autoDetectResources: false,
    spanProcessors: processors,
    logRecordProcessors: [], // logs go to stdout (pino), not OTLP
    textMapPropagator: new W3CTraceContextPropagator(),
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => QUIET_PATHS.has((req.url ?? '').split('?', 1)[0] ?? ''),
        requireParentforOutgoingSpans: true,
        // The route template, never the URL: tracking and unsubscribe paths carry tokens.
        startIncomingSpanHook: (req) => ({ 'http.route': routeTemplate(req.url ?? '/') }),
      }),
      // No parameter values (enhancedDatabaseReporting stays off); no spans for work outside a trace.
      new PgInstrumentation({ requireParentSpan: true }),
      // Node's global `fetch` (undici, through diagnostics_channel: no patching, so no load order):
      // the alert webhook. A call outside any trace (the notifier's periodic retries) starts
      // its own. No header is recorded (headersToSpanAttributes stays unset); the scrubber
      // keeps the URL's origin and path template, and drops url.query.
      new UndiciInstrumentation({ requireParentforSpans: false }),
    ],
  });
  sdk.start();
  // `http` and `https` are patched when required; ESM code that imported them earlier (our
  // health server, `import { request } from 'node:http'`) sees the patch once the builtins'
  // ESM exports are synced.
  const require = createRequire(import.meta.url);
  require('node:http');
  require('node:https');
  syncBuiltinESMExports();
  let stopped: Promise<void> | undefined;
  current = {
    enabled: true,
    shutdown: () => (stopped ??= sdk.shutdown().finally(() => (current = undefined))),
  };
  return current;
}

/** Whether spans are being recorded in this process (hot paths skip their tracing work when not). */
export function tracingEnabled(): boolean {
  return current !== undefined;
}

/** Exports what is buffered and stops the SDK (if started); `onShutdown` calls it last. */
export function stopTracing(): Promise<void> {
  return current ? current.shutdown() : Promise.resolve();
}

/** Writes the active trace context (W3C `traceparent`, `tracestate`) through `set`. */
export function injectTraceContext(set: (key: string, value: string) => void, ctx: Context = context.active()): void {
  propagation.inject(ctx, undefined, { set: (_carrier, key, value) => set(key, value) });
}

/** The trace context a message carried (an empty context when it carried none). */
export function extractTraceContext(get: (key: string) => string | undefined): Context {
  return propagation.extract(ROOT_CONTEXT, undefined, {
    get: (_carrier, key) => get(key),
    keys: () => ['traceparent', 'tracestate'],
  });
}

const tracer = () => trace.getTracer('postbus');

/**
 * `child`: the span continues the message's trace (live consumers). `link`: it starts a trace of
 * its own that links to the message's (replays and rebuilds must not join the original).
 */
export type TraceMode = 'child' | 'link';

/** A CONSUMER span for one message, and the context to run its handling in. */
export function startConsumerSpan(name: string, carried: Context, attributes: Attributes = {}, mode: TraceMode = 'child'): { span: Span; ctx: Context } {
  const origin = trace.getSpanContext(carried);
  const span =
    mode === 'child' || !origin
      ? tracer().startSpan(name, { kind: SpanKind.CONSUMER, attributes }, carried)
      : tracer().startSpan(name, { kind: SpanKind.CONSUMER, attributes, links: [{ context: origin }], root: true }, ROOT_CONTEXT);
  return { span, ctx: trace.setSpan(mode === 'child' ? carried : ROOT_CONTEXT, span) };
}

/**
 * Runs `fn` in a PRODUCER span that starts a trace of its own and links to each of `linked`
 * (what one message publishes for many: each fact's trace reaches it by a link). Without
 * tracing, `fn` just runs.
 */
export async function inLinkedSpan<T>(name: string, linked: readonly Context[], attributes: Attributes, fn: () => Promise<T>): Promise<T> {
  if (!tracingEnabled()) return fn();
  const links = linked.map((c) => trace.getSpanContext(c)).filter((c) => c !== undefined).map((c) => ({ context: c }));
  const span = tracer().startSpan(name, { kind: SpanKind.PRODUCER, attributes, links, root: true }, ROOT_CONTEXT);
  try {
    return await context.with(trace.setSpan(ROOT_CONTEXT, span), fn);
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
    throw err;
  } finally {
    span.end();
  }
}

/** Runs `fn` in a span of its own (a child of the active one); errors mark the span and pass on. */
export async function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>, kind: SpanKind = SpanKind.INTERNAL): Promise<T> {
  return tracer().startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The active span's ids for a log line (pino mixin); nothing when no span is recording. */
export function traceFields(): { trace_id?: string; span_id?: string } {
  const sc = trace.getActiveSpan()?.spanContext();
  if (!sc || !trace.isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId };
}

/** Tests: tracing on, spans kept in memory (scrubbed, as they would be exported). */
export function recordSpans(service = 'test'): { spans: () => ReadableSpan[]; reset: () => void; tracing: Tracing } {
  const exporter = new InMemorySpanExporter();
  const tracing = startTracing({ service, endpoint: '', spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { spans: () => exporter.getFinishedSpans(), reset: () => exporter.reset(), tracing };
}
