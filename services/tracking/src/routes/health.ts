import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from '@postbus/db';
import { metricsEndpoint } from '@postbus/telemetry';
import type { TrackingDeps } from '../deps.js';

const CHECK_TIMEOUT_MS = 2_000;
const Status = Type.Object({ status: Type.Literal('ok') });
const NotReady = Type.Object({ status: Type.Literal('unavailable'), failing: Type.Array(Type.String()) });

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Liveness, and readiness: NATS answers a ping and Postgres `SELECT 1`. Opens and clicks would
 * still be answered without either (they are only not recorded), unsubscribes would get 503.
 */
export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: TrackingDeps }> = async (app, { deps }) => {
  app.get('/healthz', { schema: { response: { 200: Status } } }, async () => ({ status: 'ok' as const }));

  // Prometheus (text exposition, not JSON): public unless a metrics token is configured.
  const scrape = metricsEndpoint(deps.metricsToken);
  app.get('/metrics', {}, async (request, reply) => {
    const r = await scrape(request.headers.authorization);
    return reply.code(r.status).type(r.contentType).send(r.body);
  });

  app.get('/readyz', { schema: { response: { 200: Status, 503: NotReady } } }, async (request, reply) => {
    const failing: string[] = [];
    // rtt() throws at once while the connection is closed or reconnecting.
    if (deps.bus.nc.isClosed()) failing.push('nats');
    else await within(deps.bus.nc.rtt(), CHECK_TIMEOUT_MS).catch(() => failing.push('nats'));
    await within(deps.db.query(sql`SELECT 1`), CHECK_TIMEOUT_MS).catch(() => failing.push('postgres'));
    if (failing.length > 0) {
      request.log.warn({ failing }, 'not ready');
      return reply.code(503).send({ status: 'unavailable' as const, failing });
    }
    return { status: 'ok' as const };
  });
};
