import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AdminCredentials, TokenService } from '../adapters/auth.js';
import { LIMITS } from '../deps.js';
import { Problem, problem, sendProblem } from '../http/problem.js';

export interface AuthRoutesOptions {
  readonly credentials: AdminCredentials;
  readonly tokens: TokenService;
}

const Login = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 200 }),
    password: Type.String({ minLength: 1, maxLength: 1024, writeOnly: true }),
  },
  { additionalProperties: false },
);

const TokenResponse = Type.Object({
  accessToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer(),
});

/** POST /v1/auth/login: the bootstrap admin exchanges username and password for a 15-minute token. */
export const authRoutes: FastifyPluginAsyncTypebox<AuthRoutesOptions> = async (app, { credentials, tokens }) => {
  app.post(
    '/login',
    {
      bodyLimit: LIMITS.smallBodyBytes,
      schema: {
        tags: ['auth'],
        summary: 'Exchange the admin credentials for a bearer token',
        security: [],
        body: Login,
        response: { 200: TokenResponse, 400: Problem, 401: Problem },
      },
    },
    async (request, reply) => {
      const principal = await credentials.verify(request.body.username, request.body.password);
      if (!principal) {
        // Neither name nor password is logged: people type passwords into the name field.
        request.log.warn('failed admin login');
        return sendProblem(reply, problem(401, 'invalid_credentials', 'wrong username or password'));
      }
      const token = await tokens.issue(principal);
      request.log.info({ principal }, 'admin logged in');
      return { accessToken: token.accessToken, tokenType: 'Bearer' as const, expiresIn: token.expiresIn };
    },
  );
};
