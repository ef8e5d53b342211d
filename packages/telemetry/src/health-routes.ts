import type { FastifyInstance, FastifyReply } from 'fastify';
import { metricsEndpoint } from './metrics.js';

/** A dependency readiness waits for: resolves when it answers. */
export type ReadinessCheck = () => Promise<unknown>;

const CHECK_TIMEOUT_MS = 2_000;
const Status = { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } }, required: ['status'] } as const;
const NotReady = {
  type: 'object',
  properties: { status: { type: 'string', enum: ['unavailable'] }, failing: { type: 'array', items: { type: 'string' } } },
  required: ['status', 'failing'],
} as const;

/** NATS answers a ping; `rtt()` throws at once while the connection is closed or reconnecting. */
export function natsAnswers(nc: { isClosed(): boolean; rtt(): Promise<number> }): ReadinessCheck {
  return () => (nc.isClosed() ? Promise.reject(new Error('closed')) : nc.rtt());
}

/** The names of the checks that failed or did not answer within `timeoutMs`, in their order. */
export async function failingChecks(checks: Readonly<Record<string, ReadinessCheck>>, timeoutMs = CHECK_TIMEOUT_MS): Promise<string[]> {
  const results = await Promise.all(Object.entries(checks).map(async ([name, check]) => ((await answersWithin(check, timeoutMs)) ? undefined : name)));
  return results.filter((n): n is string => n !== undefined);
}

async function answersWithin(check: ReadinessCheck, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([check().then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export interface HealthRouteOptions {
  /** What readiness waits for, by name (`nats`, `postgres`). */
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
  /** `/metrics` needs this bearer token when set. */
  readonly metricsToken?: string | undefined;
  /** Added to each route's schema (OpenAPI tags, `security: []`). */
  readonly schema?: Readonly<Record<string, unknown>>;
  /** The 503 answer and its schema; `{status: 'unavailable', failing}` when not given. */
  readonly notReady?: { readonly schema: unknown; readonly send: (reply: FastifyReply, failing: readonly string[]) => unknown };
}

/**
 * `/healthz` (the process answers), `/readyz` (every check answers) and `/metrics`
 * (Prometheus, text) for the services that have a fastify server of their own; the others use
 * startHealthServer.
 */
export function registerHealthRoutes(app: FastifyInstance, opts: HealthRouteOptions): void {
  const extra = opts.schema ?? {};
  app.get('/healthz', { schema: { ...extra, response: { 200: Status } } }, async () => ({ status: 'ok' as const }));

  const scrape = metricsEndpoint(opts.metricsToken);
  app.get('/metrics', { schema: { ...extra } }, async (request, reply) => {
    const r = await scrape(request.headers.authorization);
    return reply.code(r.status).type(r.contentType).send(r.body);
  });

  app.get('/readyz', { schema: { ...extra, response: { 200: Status, 503: opts.notReady?.schema ?? NotReady } } }, async (request, reply) => {
    const failing = await failingChecks(opts.checks);
    if (failing.length === 0) return { status: 'ok' as const };
    request.log.warn({ failing }, 'not ready');
    return opts.notReady ? opts.notReady.send(reply, failing) : reply.code(503).send({ status: 'unavailable' as const, failing });
  });
}
