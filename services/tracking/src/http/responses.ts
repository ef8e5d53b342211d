import { isPostbusError } from '@postbus/contracts';
import { isDatabaseUnavailable } from '@postbus/db';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LIMITS } from '../deps.js';
import { PAGE_CSP, errorPage, notFoundPage, unavailablePage } from '../domain/pages.js';

/** The classic 43-byte transparent 1×1 GIF. */
export const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');

/**
 * The same bytes and headers for every open URL, valid token or not: the pixel never tells
 * a scanner (or anyone) whether a token is real.
 */
export function sendPixel(reply: FastifyReply): FastifyReply {
  return reply.code(200).headers(PIXEL_HEADERS).send(PIXEL);
}

export function sendPage(reply: FastifyReply, status: number, html: string): FastifyReply {
  return secure(reply).code(status).header('content-type', 'text/html; charset=utf-8').send(html);
}

/** Unknown, tampered or wrong-kind tokens and unknown routes alike: no detail, no redirect. */
export function sendNotFound(reply: FastifyReply): FastifyReply {
  return sendPage(reply, 404, notFoundPage());
}

/** Headers every answer carries; HTML answers are locked down by the CSP (no script, no frames). */
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy': PAGE_CSP,
} as const;

/** The pixel's headers, the security ones included: set in one call on every open. */
export const PIXEL_HEADERS = {
  ...SECURITY_HEADERS,
  'content-type': 'image/gif',
  'cache-control': 'no-store, no-cache, must-revalidate, private',
  pragma: 'no-cache',
  expires: '0',
} as const;

function secure(reply: FastifyReply): FastifyReply {
  reply.headers(SECURITY_HEADERS);
  if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
  return reply;
}

/**
 * On every answer that passes the hooks; the helpers above set them too, because answers to
 * requests the router refuses (frameworkErrors) skip the onSend hooks. A callback hook, and a
 * no-op on answers a helper already secured: it runs on every pixel.
 */
export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (!reply.hasHeader('content-security-policy')) secure(reply);
    done(null, payload);
  });
}

function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/**
 * One error handler: Postgres away → 503 with Retry-After (nothing was recorded; the client
 * retries); a refused request (too large, malformed) → its 4xx; anything else → 500. The
 * answer is a small HTML page: people and mail clients are the callers here, not programs.
 */
export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const status = statusOf(err);
  if (isDatabaseUnavailable(err) || (isPostbusError(err) && err.status === 503)) {
    request.log.warn({ code: isPostbusError(err) ? err.code : 'database_unavailable' }, 'dependency unavailable: answered 503');
    reply.header('retry-after', String(LIMITS.retryAfterSeconds));
    return sendPage(reply, 503, unavailablePage());
  }
  if (status !== undefined && status >= 400 && status < 500) {
    const code = (err as { code?: unknown }).code;
    request.log.info({ status, code: typeof code === 'string' ? code : undefined }, 'request refused');
    return sendPage(reply, status, status === 404 ? notFoundPage() : errorPage(status));
  }
  request.log.error({ err }, 'request failed');
  return sendPage(reply, 500, errorPage(500));
}
