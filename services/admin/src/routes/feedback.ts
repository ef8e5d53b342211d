import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AccountId, PostbusError, TAG_PATTERN, TlsMode } from '@postbus/contracts';
import { addMailbox, listMailboxes, removeMailbox, sql, withDatabase, type FeedbackMailbox } from '@postbus/db';
import { Type, type Static } from '@sinclair/typebox';
import { LIMITS, type AdminDeps } from '../deps.js';
import { Problem } from '../http/problem.js';

export interface FeedbackRoutesOptions {
  readonly deps: AdminDeps;
}

const errors = { 400: Problem, 401: Problem, 404: Problem, 415: Problem, 503: Problem };
const MailboxId = Type.String({ pattern: '^mbx_[0-9A-HJKMNP-TV-Z]{26}$' });
const Host = Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:_-]+$' });

const NewMailbox = Type.Object(
  {
    /** An account's own mailbox (its bounces); omit for the platform feedback mailbox (complaints, mailed unsubscribes). */
    accountId: Type.Optional(AccountId),
    host: Host,
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    tls: TlsMode,
    username: Type.String({ minLength: 1, maxLength: 320, pattern: '^[^\\r\\n\\x00]+$' }),
    /** Write-only: stored encrypted, never returned. */
    password: Type.String({ minLength: 1, maxLength: 1024, pattern: '^[^\\r\\n\\x00]+$' }),
    folder: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\r\\n\\x00"*%]+$' })),
  },
  { additionalProperties: false },
);

const MailboxView = Type.Object({
  id: MailboxId,
  accountId: Type.Union([AccountId, Type.Null()]),
  purpose: Type.Union([Type.Literal('account'), Type.Literal('feedback')]),
  host: Type.String(),
  port: Type.Integer(),
  tls: TlsMode,
  username: Type.String(),
  folder: Type.String(),
  lastUid: Type.Integer(),
  lastPolledAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
});

const view = (m: FeedbackMailbox): Static<typeof MailboxView> => ({
  id: m.id,
  accountId: m.accountId,
  purpose: m.purpose,
  host: m.host,
  port: m.port,
  tls: m.tls,
  username: m.username,
  folder: m.folder,
  lastUid: m.lastUid,
  lastPolledAt: m.lastPolledAt ? m.lastPolledAt.toISOString() : null,
  lastError: m.lastError,
});

const FeedbackQuery = Type.Object(
  {
    accountId: Type.Optional(AccountId),
    campaignId: Type.Optional(Type.String({ pattern: TAG_PATTERN })),
    kind: Type.Optional(Type.Union([Type.Literal('bounce'), Type.Literal('complaint')])),
    severity: Type.Optional(Type.Union([Type.Literal('hard'), Type.Literal('soft'), Type.Literal('sender')])),
    /** 1–500 (query strings are text: no coercion). */
    limit: Type.Optional(Type.String({ pattern: '^(500|[1-4][0-9]{2}|[1-9][0-9]?)$' })),
    after: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

const FeedbackView = Type.Object({
  eventId: Type.String(),
  kind: Type.Union([Type.Literal('bounce'), Type.Literal('complaint')]),
  messageId: Type.Union([Type.String(), Type.Null()]),
  accountId: Type.Union([Type.String(), Type.Null()]),
  campaignId: Type.Union([Type.String(), Type.Null()]),
  addressHash: Type.String(),
  severity: Type.Union([Type.String(), Type.Null()]),
  reason: Type.String(),
  status: Type.Union([Type.String(), Type.Null()]),
  replyCode: Type.Union([Type.Integer(), Type.Null()]),
  diagnostic: Type.Union([Type.String(), Type.Null()]),
  suppressed: Type.Boolean(),
  occurredAt: Type.String({ format: 'date-time' }),
});

const FeedbackSummary = Type.Object({
  accountId: Type.String(),
  campaignId: Type.Union([Type.String(), Type.Null()]),
  hard: Type.Integer(),
  soft: Type.Integer(),
  sender: Type.Integer(),
  complaints: Type.Integer(),
});

const cursorOf = (at: string, id: string) => Buffer.from(`${at}|${id}`).toString('base64url');
function parseCursor(after: string): { at: string; id: string } {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|([A-Za-z0-9_]{1,64})$/.exec(Buffer.from(after, 'base64url').toString('utf8'));
  if (!m) throw new PostbusError('invalid_cursor', 'after: not a cursor this API returned', { status: 400 });
  return { at: m[1]!, id: m[2]! };
}

/**
 * Bounce mailboxes (what the bounce processor polls) and the bounces and complaints it found
 * (the `bounce_list` read table). Addresses appear only as hashes here, as in the events;
 * `GET /v1/suppressions?q=<address>` answers for one address.
 */
export const feedbackRoutes: FastifyPluginAsyncTypebox<FeedbackRoutesOptions> = async (app, { deps }) => {
  const { db, cipher } = deps;

  app.post(
    '/mailboxes',
    { bodyLimit: LIMITS.smallBodyBytes, schema: { tags: ['bounces'], summary: 'Add a mailbox for the bounce processor to poll (an account has one; a new one replaces it)', body: NewMailbox, response: { 201: MailboxView, ...errors } } },
    async (request, reply) => {
      const b = request.body;
      if (b.accountId !== undefined && !deps.directory.get(b.accountId)) throw new PostbusError('account_not_found', `account ${b.accountId} not found`, { status: 404 });
      const m = await withDatabase(() =>
        addMailbox(db, cipher, {
          accountId: b.accountId ?? null,
          purpose: b.accountId !== undefined ? 'account' : 'feedback',
          host: b.host,
          port: b.port,
          tls: b.tls,
          username: b.username,
          password: b.password,
          ...(b.folder !== undefined ? { folder: b.folder } : {}),
        }),
      );
      request.log.info({ mailbox: m.id, accountId: m.accountId, actor: request.principal }, 'bounce mailbox added');
      return reply.code(201).send(view(m));
    },
  );

  app.get(
    '/mailboxes',
    {
      schema: {
        tags: ['bounces'],
        summary: 'The polled mailboxes, with their last poll and error, by id, a page at a time',
        querystring: Type.Object(
          { limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: '1–500, default 100' })), after: Type.Optional(MailboxId) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ mailboxes: Type.Array(MailboxView), next: Type.Union([MailboxId, Type.Null()]) }), ...errors },
      },
    },
    async (request) => {
      const limit = Math.min(500, Number(request.query.limit ?? 100));
      const { after } = request.query;
      // At most one mailbox per account and a few feedback loops: the page is cut from the whole list (ordered by id).
      const rest = (await withDatabase(() => listMailboxes(db))).filter((m) => after === undefined || m.id > after);
      const page = rest.slice(0, limit);
      return { mailboxes: page.map(view), next: rest.length > limit ? page[page.length - 1]!.id : null };
    },
  );

  app.delete(
    '/mailboxes/:id',
    { schema: { tags: ['bounces'], summary: 'Stop polling a mailbox (its password is deleted)', params: Type.Object({ id: MailboxId }), response: { 204: Type.Null(), ...errors } } },
    async (request, reply) => {
      if (!(await withDatabase(() => removeMailbox(db, request.params.id)))) throw new PostbusError('mailbox_not_found', 'no such mailbox', { status: 404 });
      request.log.info({ mailbox: request.params.id, actor: request.principal }, 'bounce mailbox removed');
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/bounces',
    { schema: { tags: ['bounces'], summary: 'Bounces and complaints, newest first (filter by account, campaign, kind, severity)', querystring: FeedbackQuery, response: { 200: Type.Object({ bounces: Type.Array(FeedbackView), next: Type.Union([Type.String(), Type.Null()]) }), ...errors } } },
    async (request) => {
      const q = request.query;
      const limit = Number(q.limit ?? 50);
      const conds = [sql`true`];
      if (q.accountId) conds.push(sql`account_id = ${q.accountId}`);
      if (q.campaignId) conds.push(sql`campaign_id = ${q.campaignId}`);
      if (q.kind) conds.push(sql`kind = ${q.kind}`);
      if (q.severity) conds.push(sql`severity = ${q.severity}`);
      if (q.after) {
        const c = parseCursor(q.after);
        conds.push(sql`(occurred_at, event_id) < (${c.at}::timestamptz, ${c.id})`);
      }
      const rows = await withDatabase(() =>
        db.query(sql`
          SELECT event_id, kind, message_id, account_id, campaign_id, address_hash, severity, reason, status, reply_code, diagnostic, suppressed,
                 to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS exact
          FROM bounce_list WHERE ${sql.join(conds, sql` AND `)}
          ORDER BY occurred_at DESC, event_id DESC LIMIT ${limit + 1}`),
      ).catch(missingTable);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        bounces: page.map((r) => ({
          eventId: r.event_id,
          kind: r.kind,
          messageId: r.message_id,
          accountId: r.account_id,
          campaignId: r.campaign_id,
          addressHash: r.address_hash,
          severity: r.severity,
          reason: r.reason,
          status: r.status,
          replyCode: r.reply_code,
          diagnostic: r.diagnostic,
          suppressed: r.suppressed,
          occurredAt: new Date(r.exact as string).toISOString(),
        })),
        next: rows.length > limit && last ? cursorOf(last.exact as string, last.event_id as string) : null,
      };
    },
  );

  app.get(
    '/bounces/summary',
    {
      schema: {
        tags: ['bounces'],
        summary: 'Bounces by severity and complaints, per account and campaign, over a period (default the last 24 h)',
        querystring: Type.Object({ accountId: Type.Optional(AccountId), since: Type.Optional(Type.String({ format: 'date-time' })) }, { additionalProperties: false }),
        response: { 200: Type.Object({ since: Type.String(), summary: Type.Array(FeedbackSummary) }), ...errors },
      },
    },
    async (request) => {
      const since = request.query.since ? new Date(request.query.since) : new Date((deps.clock?.() ?? new Date()).getTime() - 86_400_000);
      const rows = await withDatabase(() =>
        db.query(sql`
          SELECT account_id, campaign_id,
                 count(*) FILTER (WHERE kind = 'bounce' AND severity = 'hard')::int AS hard,
                 count(*) FILTER (WHERE kind = 'bounce' AND severity = 'soft')::int AS soft,
                 count(*) FILTER (WHERE kind = 'bounce' AND severity = 'sender')::int AS sender,
                 count(*) FILTER (WHERE kind = 'complaint')::int AS complaints
          FROM bounce_list WHERE occurred_at >= ${since} AND account_id IS NOT NULL
            ${request.query.accountId ? sql`AND account_id = ${request.query.accountId}` : sql``}
          GROUP BY account_id, campaign_id ORDER BY account_id, campaign_id NULLS FIRST`),
      ).catch(missingTable);
      return {
        since: since.toISOString(),
        summary: rows.map((r) => ({ accountId: r.account_id, campaignId: r.campaign_id, hard: r.hard, soft: r.soft, sender: r.sender, complaints: r.complaints })),
      };
    },
  );
};

/** Before the projector has created its tables there is nothing to show (not an error). */
function missingTable(err: unknown): Array<Record<string, any>> {
  if ((err as { code?: string }).code === '42P01') return [];
  throw err;
}
