import type { FastifyInstance, FastifyRequest } from 'fastify';
import { bearerToken, type Principal, type TokenService } from '../adapters/auth.js';
import { allowedRoles, type AccessConfig, type Role } from '../auth/roles.js';
import { authProblem } from '../auth/problems.js';
import { problem, sendProblem } from './problem.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user's name (the actor in events and logs); empty on public routes. */
    principal: string;
    /** The authenticated user; undefined on public routes. */
    user: Principal | undefined;
  }
  interface FastifyContextConfig {
    /** Access to this route: see auth/roles.ts. */
    public?: boolean;
    roles?: readonly Role[];
  }
}

/** One registered route and who may call it, as the access hook sees it. */
export interface RouteAccess {
  readonly method: string;
  readonly url: string;
  /** 'public', or the roles allowed (empty: nobody). */
  readonly access: 'public' | readonly Role[];
}

const DOCS_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PUBLIC_URLS = new Set(['/healthz', '/readyz', '/metrics', '/v1/auth/login', '/v1/auth/refresh']);

function decide(method: string, url: string, config: AccessConfig | undefined): 'public' | readonly Role[] {
  if (config?.public === true || PUBLIC_URLS.has(url) || url === '/docs' || url.startsWith('/docs/')) return 'public';
  return allowedRoles(method, url, config);
}

const catalogues = new WeakMap<object, RouteAccess[]>();

/** Every route of the app with its access decision (for the authorisation matrix test and /docs). */
export function routeCatalogue(app: FastifyInstance): readonly RouteAccess[] {
  return catalogues.get(app) ?? [];
}

/**
 * Authentication and roles for the whole app, in one onRequest hook: every route but the
 * public ones needs a valid Bearer access token, then a role the route allows. The route's
 * decision is made from its registered pattern (never the raw URL) and its config. A method
 * the policy has no rule for allows nobody, and an unknown route is behind the login too.
 * Failures look alike: 401 `unauthorized` tells nothing of why, 403 `forbidden` names no role.
 */
export function registerSecurity(app: FastifyInstance, tokens: TokenService, onDenied?: (request: FastifyRequest) => Promise<void>): void {
  app.decorateRequest('principal', '');
  app.decorateRequest('user', undefined);
  const catalogue: RouteAccess[] = [];
  catalogues.set(app, catalogue);

  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) catalogue.push({ method, url: route.url, access: decide(method, route.url, route.config) });
  });

  app.addHook('onRequest', async (request, reply) => {
    const url = request.routeOptions.url;
    const access = url === undefined ? undefined : decide(request.method, url, request.routeOptions.config);
    if (access === 'public') return undefined;
    const token = bearerToken(request.headers.authorization);
    const user = token ? await tokens.verify(token) : undefined;
    if (!user) return sendProblem(reply, problem(401, 'unauthorized', 'a valid bearer token is required'));
    request.user = user;
    request.principal = user.username;
    if (access === undefined) return undefined; // no such route: a 404 follows, for the logged-in only
    if (!access.includes(user.role)) {
      await onDenied?.(request);
      return sendProblem(reply, authProblem(403, 'forbidden', 'your role may not do this'));
    }
    return undefined;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    if (!request.url.startsWith('/docs')) {
      reply.header('cache-control', 'no-store');
      reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    } else {
      // The Swagger UI page loads its scripts from /docs/static and has no inline script; React sets inline styles.
      reply.header('content-security-policy', DOCS_CSP);
    }
    return payload;
  });
}
