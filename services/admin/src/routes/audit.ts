import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { listAudit, withDatabase, type Database } from '@postbus/db';
import { authProblem } from '../auth/problems.js';
import { atLeast } from '../auth/roles.js';
import { Problem, sendProblem } from '../http/problem.js';

export interface AuditRoutesOptions {
  readonly db: Database;
}

const Entry = Type.Object({
  id: Type.String(),
  at: Type.String({ format: 'date-time' }),
  actor: Type.String(),
  actorRole: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  route: Type.Union([Type.String(), Type.Null()]),
  target: Type.Record(Type.String(), Type.String()),
  status: Type.Union([Type.Integer(), Type.Null()]),
  outcome: Type.String(),
  ip: Type.Union([Type.String(), Type.Null()]),
  requestId: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Union([Type.String(), Type.Null()]),
});

const cursorOf = (id: string) => Buffer.from(`audit|${id}`).toString('base64url');
function parseCursor(after: string): string | undefined {
  const m = /^audit\|(\d{1,19})$/.exec(Buffer.from(after, 'base64url').toString());
  return m?.[1];
}

/** GET /v1/audit: who changed what, newest first, by actor and time; admins only. */
export const auditRoutes: FastifyPluginAsyncTypebox<AuditRoutesOptions> = async (app, { db }) => {
  app.get(
    '/',
    {
      config: { roles: atLeast('admin') },
      schema: {
        tags: ['audit'],
        summary: 'The audit log, newest first',
        querystring: Type.Object(
          {
            actor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            from: Type.Optional(Type.String({ format: 'date-time' })),
            to: Type.Optional(Type.String({ format: 'date-time' })),
            limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: '1–500, default 100' })),
            after: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ entries: Type.Array(Entry), next: Type.Union([Type.String(), Type.Null()]) }), 400: Problem, 401: Problem, 403: Problem },
      },
    },
    async (request, reply) => {
      const q = { ...request.query, limit: Math.min(500, Number(request.query.limit ?? 100)) };
      const beforeId = q.after === undefined ? undefined : parseCursor(q.after);
      if (q.after !== undefined && beforeId === undefined) return sendProblem(reply, authProblem(400, 'invalid_cursor', 'after: not a cursor this API returned'));
      const rows = await withDatabase(() =>
        listAudit(db, {
          actor: q.actor,
          from: q.from === undefined ? undefined : new Date(q.from),
          to: q.to === undefined ? undefined : new Date(q.to),
          beforeId,
          limit: q.limit + 1,
        }),
      );
      const page = rows.slice(0, q.limit);
      return {
        entries: page.map((r) => ({
          id: r.id,
          at: r.at.toISOString(),
          actor: r.actor,
          actorRole: r.actorRole ?? null,
          action: r.action,
          route: r.route ?? null,
          target: { ...(r.target ?? {}) },
          status: r.status ?? null,
          outcome: r.outcome,
          ip: r.ip ?? null,
          requestId: r.requestId ?? null,
          detail: r.detail ?? null,
        })),
        next: rows.length > q.limit ? cursorOf(page[page.length - 1]!.id) : null,
      };
    },
  );
};
