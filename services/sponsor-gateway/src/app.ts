import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { performance } from 'node:perf_hooks';
import { LIMITS, type GatewayDeps } from './deps.js';
import { RateLimiter } from '@postbus/contracts';
import { errorHandler, registerCors, registerSecurityHeaders, sendProblem } from './http/responses.js';
import { healthRoutes } from './routes/health.js';
import { sponsorRoutes } from './routes/sponsors.js';

/**
 * The sponsor gateway as a fastify instance that does not listen (main.ts listens, tests
 * inject). It leads nowhere else: its only routes are `GET /api/sponsors/offers`,
 * `POST /api/sponsors/leads` and health; it holds no admin token and calls no other service.
 *
 * Logging: fastify's per-request lines are off (they would carry the client's address and the
 * headers); a debug line names the route and status only. Bodies — leads — are never logged.
 */
export async function buildGateway(deps: GatewayDeps): Promise<FastifyInstance> {
  const clock = deps.clock ?? (() => new Date());
  const perIp = new RateLimiter({ ...LIMITS.perIp, ...deps.perIp });
  const perCredential = new RateLimiter({ ...LIMITS.perCredential, ...deps.perCredential });

  const app = Fastify({
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- not a no-op: it pins Fastify's logger generic, which buildGateway's return type needs
    loggerInstance: deps.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: LIMITS.bodyBytes,
    trustProxy: false,
    return503OnClosing: true,
    requestTimeout: 30_000,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
  });

  // JSON only: without the text/plain parser any other media type is a 415.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((_request, reply) => sendProblem(reply, 404, 'not_found', 'no such route'));
  registerSecurityHeaders(app);
  registerCors(app, deps.corsOrigins);
  app.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/api/')) return;
    const admission = perIp.take(request.ip, performance.now());
    if (admission.ok) return;
    reply.header('retry-after', String(admission.retryAfterSeconds));
    return sendProblem(reply, 429, 'rate_limited', 'too many requests');
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug({ method: request.method, route: request.routeOptions.url ?? '(none)', status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'answered');
  });

  await app.register(healthRoutes, { deps });
  await app.register(sponsorRoutes, { prefix: '/api/sponsors', deps, perCredential, clock });
  await app.ready();
  return app;
}
