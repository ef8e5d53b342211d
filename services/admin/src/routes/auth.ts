import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { REFRESH_TOKEN_PATTERN } from '../adapters/auth.js';
import type { AuthService, Refusal, Session } from '../auth/login.js';
import { authProblem } from '../auth/problems.js';
import { atLeast } from '../auth/roles.js';
import { LIMITS } from '../deps.js';
import { Problem, problem, sendProblem } from '../http/problem.js';
import type { FastifyReply } from 'fastify';

export interface AuthRoutesOptions {
  readonly auth: AuthService;
}

const Login = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 200 }),
    password: Type.String({ minLength: 1, maxLength: 1024, writeOnly: true }),
    totp: Type.Optional(Type.String({ pattern: '^[0-9]{6}$', writeOnly: true })),
  },
  { additionalProperties: false },
);

const RefreshBody = Type.Object({ refreshToken: Type.String({ pattern: REFRESH_TOKEN_PATTERN, writeOnly: true }) }, { additionalProperties: false });

const TokenResponse = Type.Object({
  accessToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'seconds' }),
  refreshToken: Type.String({ description: 'opaque, single use: POST /v1/auth/refresh spends it for a new pair' }),
  refreshExpiresIn: Type.Integer({ description: 'seconds' }),
});

const anyone = { roles: atLeast('viewer') };

function refuse(reply: FastifyReply, r: Refusal): FastifyReply {
  switch (r.refused) {
    case 'invalid_credentials':
      return sendProblem(reply, problem(401, 'invalid_credentials', 'wrong username or password'));
    case 'totp_required':
      return sendProblem(reply, authProblem(401, 'totp_required', 'this user logs in with a one-time code: send it as `totp`'));
    case 'too_many_attempts':
      reply.header('retry-after', String(r.retryAfterSeconds));
      return sendProblem(reply, authProblem(429, 'too_many_attempts', 'too many failed logins: try again later'));
    case 'invalid_refresh_token':
      return sendProblem(reply, authProblem(401, 'invalid_refresh_token', 'log in again'));
    default: {
      const never: never = r;
      return never;
    }
  }
}

const isSession = (r: Session | Refusal): r is Session => !('refused' in r);

/**
 * Login (password, and a TOTP code once enrolled) → a 15-minute access token and a single-use
 * refresh token; refresh rotates; logout ends the refresh token's family; TOTP enrolment.
 */
export const authRoutes: FastifyPluginAsyncTypebox<AuthRoutesOptions> = async (app, { auth }) => {
  const small = { bodyLimit: LIMITS.smallBodyBytes };

  app.post(
    '/login',
    {
      ...small,
      config: { public: true },
      schema: {
        tags: ['auth'],
        summary: 'Exchange username, password (and a TOTP code once enrolled) for an access and a refresh token',
        security: [],
        body: Login,
        response: { 200: TokenResponse, 400: Problem, 401: Problem, 429: Problem },
      },
    },
    async (request, reply) => {
      const { username, password, totp } = request.body;
      const result = await auth.login({ username, password, totp, ip: request.ip });
      if (!isSession(result)) {
        // Neither name nor password is logged: people type passwords into the name field.
        request.log.warn({ code: result.refused }, 'admin login refused');
        return refuse(reply, result);
      }
      request.log.info('admin logged in');
      return result;
    },
  );

  app.post(
    '/refresh',
    {
      ...small,
      config: { public: true },
      schema: { tags: ['auth'], summary: 'Spend a refresh token for a new pair', security: [], body: RefreshBody, response: { 200: TokenResponse, 400: Problem, 401: Problem } },
    },
    async (request, reply) => {
      const result = await auth.refresh(request.body.refreshToken, request.ip);
      return isSession(result) ? result : refuse(reply, result);
    },
  );

  app.post(
    '/logout',
    { ...small, config: anyone, schema: { tags: ['auth'], summary: 'End the session a refresh token belongs to', body: RefreshBody, response: { 204: Type.Null(), 400: Problem, 401: Problem } } },
    async (request, reply) => {
      const user = request.user!;
      await auth.logout(request.body.refreshToken, user.userId);
      await auth.audit({ actor: user.username, actorRole: user.role, action: 'logout', outcome: 'ok', ip: request.ip, target: { userId: user.userId } });
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/totp',
    {
      ...small,
      config: anyone,
      schema: {
        tags: ['auth'],
        summary: 'Start TOTP enrolment for yourself: the otpauth URI is shown this once',
        response: { 201: Type.Object({ otpauthUri: Type.String() }), 401: Problem, 409: Problem },
      },
    },
    async (request, reply) => {
      const user = request.user!;
      const result = await auth.enrolTotp(user);
      if (result === 'already_enabled') return sendProblem(reply, authProblem(409, 'totp_already_enabled', 'an admin can reset it (PATCH /v1/users/{id})'));
      await auth.audit({ actor: user.username, actorRole: user.role, action: 'totp_enrol', outcome: 'ok', ip: request.ip, target: { userId: user.userId } });
      return reply.code(201).send(result);
    },
  );

  app.post(
    '/totp/confirm',
    {
      ...small,
      config: anyone,
      schema: {
        tags: ['auth'],
        summary: 'Confirm TOTP enrolment with a current code; logins need one from then on',
        body: Type.Object({ code: Type.String({ pattern: '^[0-9]{6}$' }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ totp: Type.Literal('on') }), 400: Problem, 401: Problem, 409: Problem },
      },
    },
    async (request, reply) => {
      const user = request.user!;
      const result = await auth.confirmTotp(user.userId, request.body.code);
      if (result === 'not_pending') return sendProblem(reply, authProblem(409, 'totp_not_pending', 'start with POST /v1/auth/totp'));
      if (result === 'wrong_code') return sendProblem(reply, authProblem(400, 'invalid_totp', 'the code does not match'));
      await auth.audit({ actor: user.username, actorRole: user.role, action: 'totp_on', outcome: 'ok', ip: request.ip, target: { userId: user.userId } });
      return { totp: 'on' as const };
    },
  );

  app.get(
    '/me',
    {
      schema: {
        tags: ['auth'],
        summary: 'Who the token speaks for',
        response: { 200: Type.Object({ id: Type.String(), username: Type.String(), role: Type.String() }), 401: Problem },
      },
    },
    async (request) => ({ id: request.user!.userId, username: request.user!.username, role: request.user!.role }),
  );
};
