import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  deleteAdminUser, insertAdminUser, listAdminUsers, revokeUserTokenFamilies, updateAdminUser, withDatabase, type AdminUserRow, type Database,
} from '@postbus/db';
import type { UserSessions } from '../adapters/user-sessions.js';
import { hashPassword, PASSWORD_MIN_LENGTH } from '../auth/password.js';
import { authProblem } from '../auth/problems.js';
import { atLeast, ROLES } from '../auth/roles.js';
import { LIMITS } from '../deps.js';
import { Problem, sendProblem } from '../http/problem.js';

export interface UserRoutesOptions {
  readonly db: Database;
  readonly clock: () => Date;
  /** Forgets a changed user at once, so its outstanding access tokens fail on this instance's next request. */
  readonly sessions: UserSessions;
}

const RoleSchema = Type.Union(ROLES.map((r) => Type.Literal(r)));
const Password = Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: 1024, writeOnly: true });

/** A user as the API shows it: never its hash or TOTP secret. */
const UserView = Type.Object({
  id: Type.String(),
  username: Type.String(),
  role: RoleSchema,
  disabled: Type.Boolean(),
  totp: Type.Union([Type.Literal('off'), Type.Literal('pending'), Type.Literal('on')]),
  lockedUntil: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastLoginAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
});

const toView = (u: AdminUserRow): Static<typeof UserView> => ({
  id: u.id,
  username: u.username,
  role: u.role,
  disabled: u.disabled,
  totp: u.totpState,
  lockedUntil: u.lockedUntil?.toISOString() ?? null,
  lastLoginAt: u.lastLoginAt?.toISOString() ?? null,
  createdAt: u.createdAt.toISOString(),
});

const UserId = Type.Object({ id: Type.String({ pattern: '^usr_[0-9a-f]{32}$' }) });
const adminOnly = { roles: atLeast('admin') };

/**
 * People who may use the admin API: admins only. A change of role, password, TOTP or state,
 * and a deletion, end the user's sessions at once: its refresh-token families are revoked and
 * its token version bumped (in one transaction), so its access tokens fail on their next request.
 */
export const userRoutes: FastifyPluginAsyncTypebox<UserRoutesOptions> = async (app, { db, clock, sessions }) => {
  app.get(
    '/',
    {
      config: adminOnly,
      schema: {
        tags: ['users'],
        summary: 'List admin users',
        querystring: Type.Object(
          { limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: '1–500, default 100' })), after: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ users: Type.Array(UserView), next: Type.Union([Type.String(), Type.Null()]) }), 401: Problem, 403: Problem },
      },
    },
    async (request) => {
      const { after } = request.query;
      const limit = Math.min(500, Number(request.query.limit ?? 100));
      const rows = await withDatabase(() => listAdminUsers(db, after, limit + 1));
      const page = rows.slice(0, limit);
      return { users: page.map(toView), next: rows.length > limit ? page[page.length - 1]!.username : null };
    },
  );

  app.post(
    '/',
    {
      bodyLimit: LIMITS.smallBodyBytes,
      config: adminOnly,
      schema: {
        tags: ['users'],
        summary: 'Create an admin user',
        body: Type.Object(
          { username: Type.String({ pattern: '^[A-Za-z0-9._@-]{1,100}$' }), password: Password, role: RoleSchema },
          { additionalProperties: false },
        ),
        response: { 201: UserView, 400: Problem, 401: Problem, 403: Problem, 409: Problem },
      },
    },
    async (request, reply) => {
      const { username, password, role } = request.body;
      const passwordHash = await hashPassword(password);
      const row = await withDatabase(() => insertAdminUser(db, { id: `usr_${randomUUID().replaceAll('-', '')}`, username, passwordHash, role, now: clock() }));
      if (!row) return sendProblem(reply, authProblem(409, 'user_exists', 'a user with this name exists'));
      return reply.code(201).send(toView(row));
    },
  );

  app.patch(
    '/:id',
    {
      bodyLimit: LIMITS.smallBodyBytes,
      config: adminOnly,
      schema: {
        tags: ['users'],
        summary: 'Change a user’s role, disable or enable it, reset its password or its TOTP',
        params: UserId,
        body: Type.Object(
          { role: Type.Optional(RoleSchema), disabled: Type.Optional(Type.Boolean()), password: Type.Optional(Password), resetTotp: Type.Optional(Type.Boolean()) },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: UserView, 400: Problem, 401: Problem, 403: Problem, 404: Problem },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const { role, disabled, password, resetTotp } = request.body;
      const passwordHash = password === undefined ? undefined : await hashPassword(password);
      const now = clock();
      const row = await withDatabase(() =>
        db.tx(async (tx) => {
          const updated = await updateAdminUser(tx, id, { role, disabled, passwordHash, resetTotp }, now);
          if (updated) await revokeUserTokenFamilies(tx, id, 'user changed', now);
          return updated;
        }),
      );
      sessions.forget(id);
      if (!row) return sendProblem(reply, authProblem(404, 'user_not_found', 'no such user'));
      return toView(row);
    },
  );

  app.delete(
    '/:id',
    {
      config: adminOnly,
      schema: {
        tags: ['users'],
        summary: 'Delete a user: its sessions end at once (the audit log keeps its name)',
        params: UserId,
        response: { 204: Type.Null(), 401: Problem, 403: Problem, 404: Problem, 409: Problem },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      // An admin cannot delete the account it is using (another admin can); the configured admin comes back at start-up anyway.
      if (request.user?.userId === id) return sendProblem(reply, authProblem(409, 'cannot_delete_self', 'use another admin to delete this user'));
      const row = await withDatabase(() => deleteAdminUser(db, id));
      sessions.forget(id);
      if (!row) return sendProblem(reply, authProblem(404, 'user_not_found', 'no such user'));
      return reply.code(204).send(null);
    },
  );
};
