import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from '@postbus/db';
import { metricsEndpoint } from '@postbus/telemetry';
import type { AdminDeps } from '../deps.js';
import { Problem, problem, sendProblem } from '../http/problem.js';

const CHECK_TIMEOUT_MS = 2_000;
const Status = Type.Object({ status: Type.Literal('ok') });

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Liveness and readiness, both public. Readiness: NATS connected (a ping answers) and Postgres answers `SELECT 1`. */
export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: AdminDeps }> = async (app, { deps }) => {
  app.get('/healthz', { schema: { tags: ['health'], security: [], response: { 200: Status } } }, async () => ({ status: 'ok' as const }));

  // Prometheus (text exposition, not JSON): public unless a metrics token is configured.
  const scrape = metricsEndpoint(deps.metricsToken);
  app.get('/metrics', { schema: { tags: ['health'], security: [] } }, async (request, reply) => {
    const r = await scrape(request.headers.authorization);
    return reply.code(r.status).type(r.contentType).send(r.body);
  });

  app.get('/readyz', { schema: { tags: ['health'], security: [], response: { 200: Status, 503: Problem } } }, async (request, reply) => {
    const failing: string[] = [];
    // rtt() throws at once while the connection is closed or reconnecting.
    if (deps.bus.nc.isClosed()) failing.push('nats');
    else await within(deps.bus.nc.rtt(), CHECK_TIMEOUT_MS).catch(() => failing.push('nats'));
    await within(deps.db.query(sql`SELECT 1`), CHECK_TIMEOUT_MS).catch(() => failing.push('postgres'));
    if (failing.length > 0) {
      request.log.warn({ failing }, 'not ready');
      return sendProblem(reply, problem(503, 'not_ready', `not ready: ${failing.join(', ')} unavailable`));
    }
    return { status: 'ok' as const };
  });
};
