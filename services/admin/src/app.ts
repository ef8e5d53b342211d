import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { TokenService } from './adapters/auth.js';
import { UserSessions } from './adapters/user-sessions.js';
import { auditEntry, registerAudit } from './auth/audit.js';
import { AuthService } from './auth/login.js';
import { LIMITS, type AdminDeps } from './deps.js';
import { errorHandler, problem, sendProblem } from './http/problem.js';
import { registerSecurity } from './http/security.js';
import { registerTextGuard } from './http/text-guard.js';
import { accountRoutes } from './routes/accounts.js';
import { auditRoutes } from './routes/audit.js';
import { authRoutes } from './routes/auth.js';
import { userRoutes } from './routes/users.js';
import { feedbackRoutes } from './routes/feedback.js';
import { statsRoutes } from './routes/stats.js';
import { healthRoutes } from './routes/health.js';
import { messageRoutes } from './routes/messages.js';
import { messageSearchRoutes } from './routes/message-search.js';
import { campaignRoutes } from './routes/campaigns.js';
import { operationsRoutes } from './routes/operations.js';
import { suppressionRoutes } from './routes/suppressions.js';
import { sponsorRoutes } from './routes/sponsors.js';
import { sponsorLeadRoutes } from './routes/sponsor-leads.js';

/**
 * The admin API as a fastify instance that does not listen: main.ts listens, tests inject.
 * Authentication is one global hook; each feature is an encapsulated plugin with a prefix
 * and a schema on every route, which also makes the OpenAPI document at /docs/json.
 */
export async function buildAdmin(deps: AdminDeps): Promise<FastifyInstance> {
  const clock = deps.clock ?? (() => new Date());
  const jwtKeys = deps.auth.jwtKeys ?? [{ kid: 'default', secret: deps.auth.jwtSecret }];
  const tokens = new TokenService(jwtKeys, LIMITS.tokenTtlSeconds, clock);
  const auth = new AuthService(deps.db, deps.cipher, tokens, clock, deps.log, deps.auth.loginLimits);
  const sessions = new UserSessions(deps.db, deps.userCacheMs ?? LIMITS.userCacheMs, deps.log);

  const app = Fastify({
    // The telemetry logger redacts authorization headers and secret-looking fields; bodies are never logged.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- not a no-op: it pins Fastify's logger generic, which buildAdmin's return type needs
    loggerInstance: deps.log as FastifyBaseLogger,
    bodyLimit: LIMITS.bodyBytes,
    trustProxy: false,
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
  });

  // JSON only: without the text/plain parser any other media type is a 415.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((_request, reply) => sendProblem(reply, problem(404, 'not_found', 'no such route')));
  // Rate limits and roles on every route (http/security.ts) and every change in the audit log (auth/audit.ts).
  registerSecurity(app, { tokens, sessions, rateLimit: deps.rateLimit, onDenied: (request) => auth.audit(auditEntry(request, 403, 'denied')) });
  registerAudit(app, (entry) => auth.audit(entry));
  registerTextGuard(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Postbus admin API', version: '0.1.0' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(healthRoutes, { deps });
  await app.register(authRoutes, { prefix: '/v1/auth', auth });
  await app.register(userRoutes, { prefix: '/v1/users', db: deps.db, clock, sessions });
  await app.register(auditRoutes, { prefix: '/v1/audit', db: deps.db });
  await app.register(accountRoutes, { prefix: '/v1/accounts', deps, clock });
  await app.register(messageRoutes, { prefix: '/v1/messages', deps, clock });
  await app.register(messageSearchRoutes, { prefix: '/v1/messages', deps, clock });
  await app.register(campaignRoutes, { prefix: '/v1/campaigns', deps, clock });
  await app.register(operationsRoutes, { prefix: '/v1', deps, clock });
  await app.register(suppressionRoutes, { prefix: '/v1/suppressions', deps, clock });
  await app.register(sponsorRoutes, { prefix: '/v1', deps, clock, allowPrivateEndpoints: deps.sponsors?.allowPrivateEndpoints ?? false });
  await app.register(sponsorLeadRoutes, { prefix: '/v1', deps, clock });
  await app.register(feedbackRoutes, { prefix: '/v1', deps });
  await app.register(statsRoutes, { prefix: '/v1/stats', deps });
  await app.ready();
  return app;
}
