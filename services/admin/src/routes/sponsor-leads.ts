import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { LeadId, PostbusError, SponsorId } from '@postbus/contracts';
import { listFailedLeads, retryFailedLead, withDatabase, type LeadStatusRow } from '@postbus/db';
import { atLeast } from '../auth/roles.js';
import type { AdminDeps } from '../deps.js';
import { Problem } from '../http/problem.js';
import { decodeCursor, encodeCursor } from '../http/cursor.js';

export interface SponsorLeadRoutesOptions {
  readonly deps: AdminDeps;
  readonly clock: () => Date;
}

const Time = Type.String({ format: 'date-time' });
/** A lead's forwarding state: never its payload (the address, the consent text), which stays encrypted for the sponsor. */
const LeadStatus = Type.Object({
  id: Type.String(),
  sponsorId: Type.String(),
  offerId: Type.String(),
  state: Type.Union([Type.Literal('pending'), Type.Literal('forwarded'), Type.Literal('failed')]),
  attempts: Type.Integer({ description: 'attempts made, over every round' }),
  lastError: Type.Union([Type.String(), Type.Null()], { description: 'why the last attempt failed: a status or a network error, never the answer body' }),
  receivedAt: Time,
  nextAttemptAt: Time,
});
type LeadStatus = Static<typeof LeadStatus>;

const FailedQuery = Type.Object(
  {
    sponsorId: Type.Optional(SponsorId),
    limit: Type.Optional(Type.String({ pattern: '^(500|[1-4][0-9]{2}|[1-9][0-9]?)$', description: '1–500, default 50' })),
    after: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$', description: 'the `next` of the previous page' })),
  },
  { additionalProperties: false },
);

const CURSOR = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|(led_[0-9A-HJKMNP-TV-Z]{26})$/;

const view = (r: LeadStatusRow): LeadStatus => ({
  id: r.id,
  sponsorId: r.sponsorId,
  offerId: r.offerId,
  state: r.state,
  attempts: r.attempts,
  lastError: r.lastError,
  receivedAt: r.receivedAt.toISOString(),
  nextAttemptAt: r.nextAttemptAt.toISOString(),
});

const operators = { roles: atLeast('operator') };
const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 429: Problem, 503: Problem };

/**
 * Leads whose forwarding the sponsor gateway gave up (a 4xx from the sponsor, or every attempt
 * of a round failed), and a retry of one: it goes back to the gateway's outbox, due at once,
 * with a fresh round of attempts. Operators and admins; the retry is audited like every change.
 */
export const sponsorLeadRoutes: FastifyPluginAsyncTypebox<SponsorLeadRoutesOptions> = async (app, { deps, clock }) => {
  const { db } = deps;

  app.get(
    '/leads/failed',
    {
      config: operators,
      schema: {
        tags: ['sponsors'],
        summary: 'Leads whose forwarding failed, newest first (optionally of one sponsor)',
        querystring: FailedQuery,
        response: { 200: Type.Object({ leads: Type.Array(LeadStatus), next: Type.Union([Type.String(), Type.Null()]) }), ...errors },
      },
    },
    async (request) => {
      const { sponsorId, after } = request.query;
      const limit = Number(request.query.limit ?? 50);
      const cursor = after !== undefined ? decodeCursor(after, CURSOR) : undefined;
      const before = cursor ? { receivedAt: cursor.at, id: cursor.id } : undefined;
      const rows = await withDatabase(() => listFailedLeads(db, { ...(sponsorId !== undefined ? { sponsorId } : {}), ...(before ? { before } : {}), limit: limit + 1 }));
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { leads: page.map(view), next: rows.length > limit && last ? encodeCursor(last.receivedAtExact, last.id) : null };
    },
  );

  app.post(
    '/leads/:id/retry',
    {
      config: operators,
      schema: {
        tags: ['sponsors'],
        summary: 'Forward a failed lead again: due at once, with a fresh round of attempts',
        params: Type.Object({ id: LeadId }),
        response: { 202: LeadStatus, ...errors },
      },
    },
    async (request, reply) => {
      const result = await withDatabase(() => retryFailedLead(db, request.params.id, clock()));
      if (result.kind === 'not_found') throw new PostbusError('lead_not_found', 'no such lead', { status: 404 });
      if (result.kind === 'not_failed') throw new PostbusError('lead_not_failed', `the lead is ${result.state}: only a failed lead can be retried`, { status: 409 });
      request.log.info({ leadId: request.params.id, sponsorId: result.lead.sponsorId, actor: request.principal }, 'lead forwarding retried');
      return reply.code(202).send(view(result.lead));
    },
  );
};
