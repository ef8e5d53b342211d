import http from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ClickOutbox } from './adapters/clicks.js';
import { OpenWorker } from './adapters/open-worker.js';
import { InlineOpens, type Opens } from './adapters/opens.js';
import { LIMITS, type TrackingDeps } from './deps.js';
import { RateLimiter } from '@postbus/contracts';
import { metrics } from '@postbus/telemetry';
import { errorHandler, registerSecurityHeaders, sendNotFound, sendPixel } from './http/responses.js';
import { pixelFastPath } from './http/pixel-fast-path.js';
import { healthRoutes } from './routes/health.js';
import { trackRoutes } from './routes/track.js';
import { unsubscribeRoutes } from './routes/unsubscribe.js';

/** An open URL answers with the pixel even when it does not route (an empty, absurdly long or garbled token). */
function notRouted(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const pixel = (request.method === 'GET' || request.method === 'HEAD') && request.url.startsWith('/track/open/');
  return pixel ? sendPixel(reply) : sendNotFound(reply);
}

/**
 * The public tracking endpoints as a fastify instance that does not listen: main.ts listens,
 * tests inject. The instance owns the recorders of opens and clicks; closing the instance
 * flushes the buffered opens and waits for what is being published (so close it before the bus).
 *
 * Logging: fastify's per-request lines are off — they carry the URL (the token), the client's
 * address and more. A debug line per request names the route pattern only; nothing here logs
 * an address, a token, an IP or a User-Agent.
 */
export async function buildTracking(deps: TrackingDeps): Promise<FastifyInstance> {
  const clock = deps.clock ?? (() => new Date());
  const publishTimeoutMs = deps.publishTimeoutMs ?? LIMITS.publishTimeoutMs;
  const recorder = {
    publishTimeoutMs,
    flushIntervalMs: deps.openBatch?.flushIntervalMs ?? LIMITS.openFlushIntervalMs,
    maxBatch: deps.openBatch?.maxBatch ?? LIMITS.openBatchSize,
    maxPending: LIMITS.maxPendingOpens,
  };
  const opens: Opens = deps.natsServers
    ? await OpenWorker.start({ servers: deps.natsServers, namespace: deps.bus.ns, tokens: deps.tokens, recorder, log: deps.log })
    : new InlineOpens(deps.tokens, deps.bus, deps.log, recorder, (source) => metrics.trackingHit('open', source).inc());
  const clicks = new ClickOutbox(deps.bus, deps.db, deps.log, {
    publishTimeoutMs,
    writeTimeoutMs: LIMITS.clickWriteTimeoutMs,
    maxPending: LIMITS.maxPendingClicks,
  });
  const limiter = new RateLimiter({ ...LIMITS.rateLimit, ...deps.rateLimit });

  const fastPixel = pixelFastPath({ opens, limiter, now: deps.clock ? () => clock().getTime() : Date.now });

  const app = Fastify({
    // The open pixel's plain case is answered in front of the framework (http/pixel-fast-path.ts);
    // everything else, and every injected request (tests), goes through fastify. The server
    // gets the timeouts fastify sets on the servers it makes itself, from its options (handed
    // over with their defaults applied).
    serverFactory: (handler, opts) => {
      const { keepAliveTimeout, requestTimeout, connectionTimeout } = opts as { keepAliveTimeout: number; requestTimeout: number; connectionTimeout: number };
      const server = http.createServer((req, res) => {
        if (!fastPixel(req, res)) handler(req, res);
      });
      server.keepAliveTimeout = keepAliveTimeout;
      server.requestTimeout = requestTimeout;
      server.setTimeout(connectionTimeout);
      return server;
    },
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- not a no-op: it pins Fastify's logger generic, which buildTracking's return type needs
    loggerInstance: deps.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger (with a request id) per request: nothing else logs per request, so the id
    // would tie a line to nothing, and making one costs about 2% of a pixel's CPU.
    childLoggerFactory: (logger) => logger,
    bodyLimit: LIMITS.unsubscribeBodyBytes,
    trustProxy: false,
    return503OnClosing: true,
    requestTimeout: 30_000,
    routerOptions: { maxParamLength: LIMITS.maxParamLength },
    // The router's own refusals (a parameter over maxParamLength, a malformed %-escape) answer like any unknown URL.
    frameworkErrors: (_error, request, reply) => {
      void notRouted(request, reply);
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
  });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notRouted);
  registerSecurityHeaders(app);
  // Only at debug level: an onResponse hook costs every request a set of response listeners.
  if (deps.log.isLevelEnabled('debug')) {
    app.addHook('onResponse', (request, reply, done) => {
      request.log.debug({ method: request.method, route: request.routeOptions.url ?? '(none)', status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'answered');
      done();
    });
  }
  app.addHook('onClose', async () => {
    await Promise.all([opens.close(), clicks.close()]);
  });

  await app.register(healthRoutes, { deps });
  await app.register(trackRoutes, { prefix: '/track', deps, opens, clicks, limiter, clock });
  await app.register(unsubscribeRoutes, { prefix: '/unsubscribe', deps, clock });
  await app.ready();
  return app;
}
