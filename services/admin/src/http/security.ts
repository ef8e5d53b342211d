import type { FastifyInstance, FastifyRequest } from 'fastify';
import { bearerToken, type TokenService } from '../adapters/auth.js';
import { problem, sendProblem } from './problem.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated subject (the JWT `sub`); empty on public routes. */
    principal: string;
  }
}

/** Routes anyone may call, by their registered pattern (never by the raw URL, which can be spelled many ways). */
function isPublicRoute(request: FastifyRequest): boolean {
  const route = request.routeOptions.url;
  if (route === undefined) return false; // not found: still behind the login, so routes are not probed
  return route === '/healthz' || route === '/readyz' || route === '/v1/auth/login' || route === '/docs' || route.startsWith('/docs/');
}

/**
 * One onRequest hook for the whole app: every route but the public ones needs a valid
 * Bearer token. Failures all look alike (401 `unauthorized`): no hint whether the token
 * was missing, expired, forged or for another audience.
 */
export function registerSecurity(app: FastifyInstance, tokens: TokenService): void {
  app.decorateRequest('principal', '');

  app.addHook('onRequest', async (request, reply) => {
    if (isPublicRoute(request)) return;
    const token = bearerToken(request.headers.authorization);
    const subject = token ? await tokens.verify(token) : undefined;
    if (!subject) return sendProblem(reply, problem(401, 'unauthorized', 'a valid bearer token is required'));
    request.principal = subject;
    return undefined;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    if (!request.url.startsWith('/docs')) {
      reply.header('cache-control', 'no-store');
      reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    }
    return payload;
  });
}
