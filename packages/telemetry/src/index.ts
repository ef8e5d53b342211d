import { pino, type Logger, type DestinationStream } from 'pino';
import { traceFields } from './tracing.js';

export type { Logger };

/**
 * Paths that may hold secrets (invariant 8). Redaction is the last line of defence: the
 * code is written never to log a secret in the first place.
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'pass',
  '*.pass',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'auth',
  '*.auth',
  'privateKey',
  '*.privateKey',
  'masterKeys',
  '*.masterKeys',
];

export interface LoggerOptions {
  readonly service: string;
  readonly level?: string;
  readonly destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      name: opts.service,
      level: opts.level ?? 'info',
      base: { service: opts.service, pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: pino.stdSerializers.err },
      // `trace_id` and `span_id` of the active span, so a log line leads to its trace.
      mixin: traceFields,
    },
    opts.destination,
  );
}

/** For tests: a logger that writes nothing. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export { startHealthServer, type HealthServer } from './health.js';
export { failingChecks, natsAnswers, registerHealthRoutes, type HealthRouteOptions, type ReadinessCheck } from './health-routes.js';
export { PostbusMetrics, cached1, cached2, metrics, metricsAuthorized, metricsEndpoint, type Inc, type MetricsReply } from './metrics.js';
export { onShutdown } from './shutdown.js';
export {
  SpanKind,
  SpanStatusCode,
  context,
  extractTraceContext,
  inLinkedSpan,
  inSpan,
  recordSpans,
  injectTraceContext,
  startConsumerSpan,
  startTracing,
  stopTracing,
  trace,
  traceFields,
  tracesUrl,
  tracingEnabled,
  type Attributes,
  type Context,
  type ReadableSpan,
  type Span,
  type TraceMode,
  type Tracing,
  type TracingOptions,
} from './tracing.js';
export { ScrubbingSpanProcessor, routeTemplate, scrubAttributes, scrubText } from './scrub.js';
