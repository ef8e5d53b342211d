import { performance } from 'node:perf_hooks';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RateLimiter } from '@postbus/contracts';
import { bearerToken, type Principal, type TokenService } from '../adapters/auth.js';
import { LIMITS, type AdminRateLimit } from '../deps.js';
import { allowedRoles, type AccessConfig, type Role } from '../auth/roles.js';
import { authProblem } from '../auth/problems.js';
import { Problem, problem, sendProblem } from './problem.js';

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

export interface SecurityOptions {
  readonly tokens: TokenService;
  /** Whether a verified token still speaks for its user (token version, disabled, deleted): adapters/user-sessions.ts. */
  readonly sessions: { check(p: Principal): Promise<Principal | undefined> };
  readonly rateLimit?: Partial<AdminRateLimit> | undefined;
  readonly onDenied?: (request: FastifyRequest) => Promise<void>;
}

function tooMany(reply: FastifyReply, retryAfterSeconds: number): FastifyReply {
  reply.header('retry-after', String(retryAfterSeconds));
  return sendProblem(reply, problem(429, 'rate_limited', 'too many requests: slow down and retry after the Retry-After seconds'));
}

/**
 * Authentication, rate limits and roles for the whole app, in one onRequest hook: every route
 * but the public ones needs a valid Bearer access token whose user still exists, is enabled
 * and has not changed since it was issued (UserSessions), then a role the route allows. The
 * route's decision is made from its registered pattern (never the raw URL) and its config. A
 * method the policy has no rule for allows nobody, and an unknown route is behind the login too.
 * Failures look alike: 401 `unauthorized` tells nothing of why, 403 `forbidden` names no role.
 *
 * Every request takes a token from a bucket before anything else is done for it: the
 * authenticated user's, else (public routes, no or a bad token) the client address's. Beyond
 * it: 429 `rate_limited` with Retry-After. The buckets are per process (packages/contracts'
 * RateLimiter), like the login limits: N instances admit N times the rate.
 */
export function registerSecurity(app: FastifyInstance, opts: SecurityOptions): void {
  const { tokens, sessions, onDenied } = opts;
  const limits = { ...LIMITS.rateLimit, ...opts.rateLimit };
  const perUser = new RateLimiter({ perSecond: limits.userPerSecond, burst: limits.userBurst, maxClients: LIMITS.rateLimitClients });
  const perIp = new RateLimiter({ perSecond: limits.ipPerSecond, burst: limits.ipBurst, maxClients: LIMITS.rateLimitClients });

  app.decorateRequest('principal', '');
  app.decorateRequest('user', undefined);
  const catalogue: RouteAccess[] = [];
  catalogues.set(app, catalogue);

  app.addHook('onRoute', (route) => {
    // Every route may answer the rate limit's 429: say so in its OpenAPI entry.
    const responses = route.schema?.response as Record<string, unknown> | undefined;
    if (responses && !('429' in responses)) responses['429'] = Problem;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) catalogue.push({ method, url: route.url, access: decide(method, route.url, route.config) });
  });

  app.addHook('onRequest', async (request, reply) => {
    const url = request.routeOptions.url;
    const access = url === undefined ? undefined : decide(request.method, url, request.routeOptions.config);
    const byIp = () => perIp.take(request.ip, performance.now());
    if (access === 'public') {
      const admission = byIp();
      return admission.ok ? undefined : tooMany(reply, admission.retryAfterSeconds);
    }
    const token = bearerToken(request.headers.authorization);
    const claimed = token ? await tokens.verify(token) : undefined;
    const user = claimed ? await sessions.check(claimed) : undefined;
    const admission = user ? perUser.take(user.userId, performance.now()) : byIp();
    if (!admission.ok) return tooMany(reply, admission.retryAfterSeconds);
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
