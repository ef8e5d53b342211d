import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { publishEvent, type Bus } from '@postbus/bus';
import { AccountId, MAIL_SUBJECT_TOKEN, MessageId, PostbusError, UNASSIGNED, ValidationError, eventIds, normaliseAddress, TAG_PATTERN, type MailEvent } from '@postbus/contracts';
import { cancelDelivery, sql, withDatabase, type CancelledRow } from '@postbus/db';
import type { AdminDeps } from '../deps.js';
import { Problem } from '../http/problem.js';
import { IdParam, TimelineEntry } from '../http/schemas.js';
import { decodeCursor, encodeCursor } from '../http/cursor.js';

export interface MessageSearchOptions {
  readonly deps: AdminDeps;
  readonly clock: () => Date;
}

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 503: Problem };

export const MESSAGE_STATES = ['requested', 'waiting', 'queued', 'retry_wait', 'sent', 'failed', 'suppressed', 'uncertain', 'expired', 'cancelled'] as const;

const SearchQuery = Type.Object(
  {
    state: Type.Optional(Type.Unsafe<string>({ type: 'string', enum: [...MESSAGE_STATES], description: 'As the read table has it: queued covers assigned, claimed and sending' })),
    accountId: Type.Optional(AccountId),
    campaignId: Type.Optional(Type.String({ pattern: TAG_PATTERN })),
    recipient: Type.Optional(Type.String({ minLength: 3, maxLength: 320, description: 'An address, matched after normalisation (case, Gmail dots and +tags)' })),
    from: Type.Optional(Type.String({ format: 'date-time', description: 'Requested at or after' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'Requested before' })),
    limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: '1–500, default 50' })),
    after: Type.Optional(Type.String({ maxLength: 200, description: 'The `next` of the previous page' })),
  },
  { additionalProperties: false },
);

const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
const MessageSummary = Type.Object({
  id: MessageId,
  state: Type.String(),
  kind: Type.Union([Type.String(), Type.Null()]),
  accountId: Type.Union([Type.String(), Type.Null()]),
  campaignId: Type.Union([Type.String(), Type.Null()]),
  to: Type.Union([Type.String(), Type.Null()]),
  subject: Type.Union([Type.String(), Type.Null()]),
  attempt: Type.Integer(),
  requestedAt: Time,
  queuedAt: Time,
  sentAt: Time,
  outcomeAt: Time,
  reason: Type.Union([Type.String(), Type.Null()]),
  replyCode: Type.Union([Type.Integer(), Type.Null()]),
});

const CancelView = Type.Object({ id: MessageId, state: Type.Literal('cancelled') });
const CancelBody = Type.Object({ reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })) }, { additionalProperties: false });

const CURSOR = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|(msg_[0-9A-Z]{26})$/;

/** The projection may not exist yet (the projector creates it): no table, no rows. */
const missingTable = (err: unknown): Array<Record<string, any>> => {
  if ((err as { code?: unknown }).code === '42P01') return [];
  throw err;
};

const iso = (v: Date | string | null | undefined): string | null => (v instanceof Date ? v.toISOString() : v === null || v === undefined ? null : new Date(v).toISOString());

/** Publishes the `EmailCancelled` of a ledger row the caller has just cancelled. */
export async function publishCancelled(bus: Bus, row: CancelledRow, reason: string, actor: string, now: Date): Promise<void> {
  const event: MailEvent = {
    id: eventIds.cancelled(row.messageId),
    type: 'EmailCancelled',
    version: 1,
    occurredAt: now.toISOString(),
    ...(row.accountId ? { accountId: row.accountId } : {}),
    messageId: row.messageId,
    data: { assignment: row.assignment, attempt: row.attempt, ...(row.campaignId ? { campaignId: row.campaignId } : {}), reason, actor: actor.slice(0, 200) },
  };
  await publishEvent(bus, bus.subjects.mail(row.accountId ?? UNASSIGNED, MAIL_SUBJECT_TOKEN.EmailCancelled), event);
}

/**
 * Message search and history, and cancelling one message. Search reads the `email_queue`
 * read table, not the ledger: the ledger is the dispatcher's and the workers' hot table and
 * has no indexes for these filters (each would tax every state change); the read table is
 * built for reading and lags the ledger by the projector's batch (milliseconds). A cancel
 * goes to the ledger, which alone decides whether a message can still be stopped.
 */
export const messageSearchRoutes: FastifyPluginAsyncTypebox<MessageSearchOptions> = async (app, { deps, clock }) => {
  const { db, bus } = deps;

  app.get(
    '/',
    { schema: { tags: ['messages'], summary: 'Search messages (state, account, campaign, recipient, time), newest first', querystring: SearchQuery, response: { 200: Type.Object({ messages: Type.Array(MessageSummary), next: Type.Union([Type.String(), Type.Null()]) }), ...errors } } },
    async (request) => {
      const q = request.query;
      const limit = Math.min(500, Number(q.limit ?? 50));
      const at = sql`coalesce(requested_at, updated_at)`;
      const conds = [sql`true`];
      if (q.state) conds.push(sql`status = ${q.state}`);
      if (q.accountId) conds.push(sql`account_id = ${q.accountId}`);
      if (q.campaignId) conds.push(sql`campaign_id = ${q.campaignId}`);
      if (q.recipient !== undefined) {
        let key: string;
        try {
          key = normaliseAddress(q.recipient);
        } catch (err) {
          throw new ValidationError('invalid_address', `recipient: ${(err as Error).message}`);
        }
        conds.push(sql`postbus_normalise_address(recipient) = ${key}`);
      }
      if (q.from) conds.push(sql`${at} >= ${new Date(q.from)}`);
      if (q.to) conds.push(sql`${at} < ${new Date(q.to)}`);
      if (q.after) {
        const c = decodeCursor(q.after, CURSOR);
        conds.push(sql`(${at}, message_id) < (${c.at}::timestamptz, ${c.id})`);
      }
      const rows = await withDatabase(() =>
        db.query(sql`
          SELECT message_id, status, kind, account_id, campaign_id, recipient, subject, attempt, requested_at, queued_at, sent_at, outcome_at,
                 last_reason, reply_code, to_char(${at} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS exact
          FROM email_queue WHERE ${sql.join(conds, sql` AND `)}
          ORDER BY ${at} DESC, message_id DESC LIMIT ${limit + 1}`),
      ).catch(missingTable);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        messages: page.map((r) => ({
          id: r.message_id,
          state: r.status,
          kind: r.kind,
          accountId: r.account_id,
          campaignId: r.campaign_id,
          to: r.recipient,
          subject: r.subject,
          attempt: r.attempt,
          requestedAt: iso(r.requested_at),
          queuedAt: iso(r.queued_at),
          sentAt: iso(r.sent_at),
          outcomeAt: iso(r.outcome_at),
          reason: r.last_reason,
          replyCode: r.reply_code,
        })),
        next: rows.length > limit && last ? encodeCursor(last.exact as string, last.message_id as string) : null,
      };
    },
  );

  app.get(
    '/:id/events',
    { schema: { tags: ['messages'], summary: "One message's events in order (the send_logs read table; requests without their body)", params: IdParam(MessageId), response: { 200: Type.Object({ id: MessageId, events: Type.Array(TimelineEntry) }), ...errors } } },
    async (request) => {
      const id = request.params.id;
      const rows = await withDatabase(() =>
        db.query(sql`SELECT event_id, account_id, type, attempt, occurred_at, detail FROM send_logs WHERE message_id = ${id} ORDER BY occurred_at, event_id`),
      ).catch(missingTable);
      if (rows.length === 0) {
        const [known] = await withDatabase(() => db.query(sql`SELECT 1 FROM deliveries WHERE message_id = ${id}`));
        if (!known) throw new PostbusError('message_not_found', 'no such message', { status: 404 });
      }
      return {
        id,
        events: rows.map((r) => ({
          eventId: String(r.event_id),
          type: String(r.type),
          accountId: r.account_id ?? null,
          attempt: r.attempt ?? null,
          occurredAt: iso(r.occurred_at)!,
          detail: r.detail ?? null,
        })),
      };
    },
  );

  app.post(
    '/:id/cancel',
    { schema: { tags: ['messages'], summary: 'Cancel a message not yet claimed by a worker (waiting, assigned or waiting for a retry)', params: IdParam(MessageId), body: CancelBody, response: { 200: CancelView, ...errors } } },
    async (request) => {
      const id = request.params.id;
      const reason = request.body.reason ?? 'cancelled by a person';
      const now = clock();
      let result = await withDatabase(() => cancelDelivery(db, id, request.principal, now));
      // The dispatcher wrote the row between our two reads: decide again on the row.
      if (result.kind === 'refused' && result.state === 'requested') result = await withDatabase(() => cancelDelivery(db, id, request.principal, now));
      if (result.kind === 'already') {
        // Cancelled before: answer the same, and publish its event again (a lost publish is repaired; a copy is dropped by its id).
        await publishCancelled(bus, result.row, reason, request.principal, now);
        return { id, state: 'cancelled' as const };
      }
      if (result.kind === 'not_found') throw new PostbusError('message_not_found', 'no such message', { status: 404 });
      if (result.kind === 'refused') {
        const inFlight = result.state === 'claimed' || result.state === 'sending';
        throw new PostbusError(inFlight ? 'message_in_flight' : 'message_final', inFlight ? `a worker has the message (${result.state}): it can no longer be cancelled` : `the message has ended (${result.state})`, {
          status: 409,
        });
      }
      // The ledger says cancelled: the event follows (published again by nothing else; a
      // lost publish leaves the read table behind the ledger until the next cancel call).
      await publishCancelled(bus, result.row, reason, request.principal, now);
      request.log.info({ messageId: id, actor: request.principal }, 'message cancelled');
      return { id, state: 'cancelled' as const };
    },
  );
};
