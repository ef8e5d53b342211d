import { isPostbusError } from '@postbus/contracts';
import { isDatabaseUnavailable } from '@postbus/db';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LIMITS } from '../deps.js';

/** problem+json (RFC 9457): a stable `code`, a short title, never a secret, a lead or an address. */
export function sendProblem(reply: FastifyReply, status: number, code: string, title: string): FastifyReply {
  return reply.code(status).header('content-type', 'application/problem+json').send({ type: 'about:blank', title, status, code });
}

export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    reply.header('strict-transport-security', 'max-age=31536000');
    reply.header('cross-origin-resource-policy', 'same-site');
    reply.header('cache-control', 'no-store');
    return payload;
  });
}

const CORS_METHODS = 'GET, POST';
const CORS_HEADERS = 'content-type, idempotency-key, postbus-lead-token';

/**
 * CORS is closed unless an origin is configured: a configured landing-page origin gets the
 * headers, any other origin none (its browser keeps the answer from it), and its preflight a 403.
 * Credentials (cookies) are never allowed: a landing page authenticates with its lead token.
 */
export function registerCors(app: FastifyInstance, origins: readonly string[]): void {
  const allowed = new Set(origins);
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    reply.header('vary', 'origin');
    if (origin === undefined) return;
    if (!allowed.has(origin)) {
      if (request.method === 'OPTIONS') return sendProblem(reply, 403, 'origin_not_allowed', 'origin not allowed');
      return;
    }
    reply.header('access-control-allow-origin', origin);
    if (request.method === 'OPTIONS') {
      return reply
        .code(204)
        .header('access-control-allow-methods', CORS_METHODS)
        .header('access-control-allow-headers', CORS_HEADERS)
        .header('access-control-max-age', '600')
        .send();
    }
  });
}

function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** One error handler: Postgres or NATS away → 503 with Retry-After; a refused request → its 4xx; anything else → 500. */
export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (isDatabaseUnavailable(err) || (isPostbusError(err) && err.status === 503)) {
    request.log.warn({ code: isPostbusError(err) ? err.code : 'database_unavailable' }, 'dependency unavailable: answered 503');
    reply.header('retry-after', String(LIMITS.retryAfterSeconds));
    return sendProblem(reply, 503, 'unavailable', 'temporarily unavailable: retry');
  }
  if (isPostbusError(err) && err.status >= 400 && err.status < 500) return sendProblem(reply, err.status, err.code, err.message);
  const status = statusOf(err);
  if (status !== undefined && status >= 400 && status < 500) {
    const raw = (err as { code?: unknown }).code;
    const code = (err as { validation?: unknown }).validation ? 'invalid_request' : (typeof raw === 'string' ? raw : 'bad_request').toLowerCase();
    // Fastify's validation messages name the failing path and rule, never the value.
    const title = (err as { validation?: unknown }).validation ? (err as Error).message.slice(0, 200) : 'request refused';
    request.log.info({ status, code }, 'request refused');
    return sendProblem(reply, status, code, title);
  }
  request.log.error({ err }, 'request failed');
  return sendProblem(reply, 500, 'internal', 'internal error');
}
