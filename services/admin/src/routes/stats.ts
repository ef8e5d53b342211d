import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AccountId, PostbusError, TAG_PATTERN } from '@postbus/contracts';
import { sql, withDatabase, type SQLQuery } from '@postbus/db';
import { Type } from '@sinclair/typebox';
import type { AdminDeps } from '../deps.js';
import { Problem } from '../http/problem.js';

export interface StatsRoutesOptions {
  readonly deps: AdminDeps;
}

const errors = { 400: Problem, 401: Problem, 503: Problem };

const StatsQuery = Type.Object(
  {
    accountId: Type.Optional(AccountId),
    campaignId: Type.Optional(Type.String({ pattern: TAG_PATTERN })),
    /** Default: 30 days before `until`. */
    since: Type.Optional(Type.String({ format: 'date-time' })),
    /** Default: now. */
    until: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);

const Hits = Type.Object({
  /** Every hit recorded. */
  raw: Type.Integer(),
  /** Hits judged to be a person's (not a provider's image proxy, not a link scanner). */
  human: Type.Integer(),
  proxy: Type.Integer(),
  scanner: Type.Integer(),
  unknown: Type.Integer(),
  /** Messages with at least one hit / at least one human hit. */
  messages: Type.Integer(),
  messagesHuman: Type.Integer(),
});

const Engagement = Type.Object({
  since: Type.String(),
  until: Type.String(),
  accountId: Type.Union([Type.String(), Type.Null()]),
  campaignId: Type.Union([Type.String(), Type.Null()]),
  /** Messages the receiving server accepted in the period. */
  sent: Type.Integer(),
  opens: Hits,
  clicks: Hits,
  unsubscribed: Type.Integer(),
  bounced: Type.Object({ hard: Type.Integer(), soft: Type.Integer(), sender: Type.Integer() }),
  complained: Type.Integer(),
  /** Per sent message, 0–1 (null when nothing was sent): human figures beside raw ones. */
  rates: Type.Object({
    openRaw: Type.Union([Type.Number(), Type.Null()]),
    openHuman: Type.Union([Type.Number(), Type.Null()]),
    clickRaw: Type.Union([Type.Number(), Type.Null()]),
    clickHuman: Type.Union([Type.Number(), Type.Null()]),
    hardBounce: Type.Union([Type.Number(), Type.Null()]),
    complaint: Type.Union([Type.Number(), Type.Null()]),
  }),
});

const Day = Type.Object({
  /** UTC day, `YYYY-MM-DD`. */
  day: Type.String(),
  queued: Type.Integer(),
  sent: Type.Integer(),
  failed: Type.Integer(),
  suppressed: Type.Integer(),
  bounced: Type.Object({ hard: Type.Integer(), soft: Type.Integer(), sender: Type.Integer() }),
  complained: Type.Integer(),
  opens: Type.Object({ raw: Type.Integer(), human: Type.Integer() }),
  clicks: Type.Object({ raw: Type.Integer(), human: Type.Integer() }),
  unsubscribed: Type.Integer(),
  /** Per message sent that day (null when none was): hard bounces and complaints counted on their own day. */
  rates: Type.Object({ hardBounce: Type.Union([Type.Number(), Type.Null()]), complaint: Type.Union([Type.Number(), Type.Null()]) }),
});

const MAX_DAYS = 366;

/** Read tables may not exist before the projector first ran: nothing to count then. */
async function rows(query: () => Promise<Array<Record<string, any>>>): Promise<Array<Record<string, any>>> {
  try {
    return await query();
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return [];
    throw err;
  }
}

/**
 * Engagement for an account, a campaign or everything, over a period: opens and clicks raw and
 * human (an image proxy's fetch or a link scanner's click is counted in raw only), unsubscribes,
 * bounces and complaints, and the rates per sent message. From the read tables: as current as
 * the projector.
 */
export const statsRoutes: FastifyPluginAsyncTypebox<StatsRoutesOptions> = async (app, { deps }) => {
  const { db } = deps;
  app.get(
    '/engagement',
    { schema: { tags: ['stats'], summary: 'Opens and clicks (human and raw), unsubscribes, bounces and complaints over a period', querystring: StatsQuery, response: { 200: Engagement, ...errors } } },
    async (request) => {
      const q = request.query;
      const until = q.until ? new Date(q.until) : (deps.clock?.() ?? new Date());
      const since = q.since ? new Date(q.since) : new Date(until.getTime() - 30 * 86_400_000);
      if (since.getTime() >= until.getTime()) throw new PostbusError('invalid_period', 'since must be before until', { status: 400 });
      const scope = (time: string): SQLQuery =>
        sql.join(
          [
            sql`${sql.ident(time)} >= ${since} AND ${sql.ident(time)} < ${until}`,
            ...(q.accountId ? [sql`account_id = ${q.accountId}`] : []),
            ...(q.campaignId ? [sql`campaign_id = ${q.campaignId}`] : []),
          ],
          sql` AND `,
        );
      const hits = (table: 'open_events' | 'click_events') =>
        rows(() =>
          db.query(sql`
            SELECT count(*)::int AS raw,
                   count(*) FILTER (WHERE source = 'human')::int AS human,
                   count(*) FILTER (WHERE source = 'proxy')::int AS proxy,
                   count(*) FILTER (WHERE source = 'scanner')::int AS scanner,
                   count(*) FILTER (WHERE source = 'unknown')::int AS unknown,
                   count(DISTINCT message_id)::int AS messages,
                   count(DISTINCT message_id) FILTER (WHERE source = 'human')::int AS messages_human
            FROM ${sql.ident(table)} WHERE ${scope('occurred_at')}`),
        );
      const [sent, opens, clicks, unsubscribed, bounces] = await withDatabase(() =>
        Promise.all([
          rows(() => db.query(sql`SELECT count(*)::int AS n FROM email_queue WHERE status = 'sent' AND ${scope('sent_at')}`)),
          hits('open_events'),
          hits('click_events'),
          rows(() => db.query(sql`SELECT count(*)::int AS n FROM unsubscribe_list WHERE ${scope('unsubscribed_at')}`)),
          rows(() =>
            db.query(sql`
              SELECT count(*) FILTER (WHERE kind = 'bounce' AND severity = 'hard')::int AS hard,
                     count(*) FILTER (WHERE kind = 'bounce' AND severity = 'soft')::int AS soft,
                     count(*) FILTER (WHERE kind = 'bounce' AND severity = 'sender')::int AS sender,
                     count(*) FILTER (WHERE kind = 'complaint')::int AS complained
              FROM bounce_list WHERE ${scope('occurred_at')}`),
          ),
        ]),
      );
      const h = (r: Record<string, any> | undefined) => ({
        raw: r?.raw ?? 0,
        human: r?.human ?? 0,
        proxy: r?.proxy ?? 0,
        scanner: r?.scanner ?? 0,
        unknown: r?.unknown ?? 0,
        messages: r?.messages ?? 0,
        messagesHuman: r?.messages_human ?? 0,
      });
      const n = (sent[0]?.n as number | undefined) ?? 0;
      const o = h(opens[0]);
      const c = h(clicks[0]);
      const b = bounces[0] ?? {};
      const rate = (x: number) => (n > 0 ? Number((x / n).toFixed(4)) : null);
      return {
        since: since.toISOString(),
        until: until.toISOString(),
        accountId: q.accountId ?? null,
        campaignId: q.campaignId ?? null,
        sent: n,
        opens: o,
        clicks: c,
        unsubscribed: (unsubscribed[0]?.n as number | undefined) ?? 0,
        bounced: { hard: b.hard ?? 0, soft: b.soft ?? 0, sender: b.sender ?? 0 },
        complained: b.complained ?? 0,
        rates: {
          openRaw: rate(o.messages),
          openHuman: rate(o.messagesHuman),
          clickRaw: rate(c.messages),
          clickHuman: rate(c.messagesHuman),
          hardBounce: rate(b.hard ?? 0),
          complaint: rate(b.complained ?? 0),
        },
      };
    },
  );
  app.get(
    '/daily',
    {
      schema: {
        tags: ['stats'],
        summary: 'Per UTC day: queued, sent, failed, suppressed, bounced, complained, opened and clicked (human and raw), unsubscribed, and the rates',
        querystring: StatsQuery,
        response: { 200: Type.Object({ since: Type.String(), until: Type.String(), days: Type.Array(Day) }), ...errors },
      },
    },
    async (request) => {
      const q = request.query;
      const until = q.until ? new Date(q.until) : (deps.clock?.() ?? new Date());
      const since = q.since ? new Date(q.since) : new Date(until.getTime() - 30 * 86_400_000);
      if (since.getTime() >= until.getTime()) throw new PostbusError('invalid_period', 'since must be before until', { status: 400 });
      if (until.getTime() - since.getTime() > MAX_DAYS * 86_400_000) throw new PostbusError('invalid_period', `at most ${MAX_DAYS} days at a time`, { status: 400 });
      const scope = (time: string): SQLQuery =>
        sql.join(
          [
            sql`${sql.ident(time)} >= ${since} AND ${sql.ident(time)} < ${until}`,
            ...(q.accountId ? [sql`account_id = ${q.accountId}`] : []),
            ...(q.campaignId ? [sql`campaign_id = ${q.campaignId}`] : []),
          ],
          sql` AND `,
        );
      const dayOf = (time: string) => sql`to_char(${sql.ident(time)} AT TIME ZONE 'UTC', 'YYYY-MM-DD')`;
      const [queued, outcomes, bounces, opens, clicks, unsubscribed] = await withDatabase(() =>
        Promise.all([
          rows(() => db.query(sql`SELECT ${dayOf('queued_at')} AS day, count(*)::int AS n FROM email_queue WHERE ${scope('queued_at')} GROUP BY 1`)),
          rows(() =>
            db.query(sql`
              SELECT ${dayOf('outcome_at')} AS day,
                     count(*) FILTER (WHERE status = 'sent')::int AS sent,
                     count(*) FILTER (WHERE status = 'failed')::int AS failed,
                     count(*) FILTER (WHERE status = 'suppressed')::int AS suppressed
              FROM email_queue WHERE ${scope('outcome_at')} GROUP BY 1`),
          ),
          rows(() =>
            db.query(sql`
              SELECT ${dayOf('occurred_at')} AS day,
                     count(*) FILTER (WHERE kind = 'bounce' AND severity = 'hard')::int AS hard,
                     count(*) FILTER (WHERE kind = 'bounce' AND severity = 'soft')::int AS soft,
                     count(*) FILTER (WHERE kind = 'bounce' AND severity = 'sender')::int AS sender,
                     count(*) FILTER (WHERE kind = 'complaint')::int AS complained
              FROM bounce_list WHERE ${scope('occurred_at')} GROUP BY 1`),
          ),
          rows(() => db.query(sql`SELECT ${dayOf('occurred_at')} AS day, count(*)::int AS raw, count(*) FILTER (WHERE source = 'human')::int AS human FROM open_events WHERE ${scope('occurred_at')} GROUP BY 1`)),
          rows(() => db.query(sql`SELECT ${dayOf('occurred_at')} AS day, count(*)::int AS raw, count(*) FILTER (WHERE source = 'human')::int AS human FROM click_events WHERE ${scope('occurred_at')} GROUP BY 1`)),
          rows(() => db.query(sql`SELECT ${dayOf('unsubscribed_at')} AS day, count(*)::int AS n FROM unsubscribe_list WHERE ${scope('unsubscribed_at')} GROUP BY 1`)),
        ]),
      );
      const byDay = (list: Array<Record<string, any>>) => new Map(list.map((r) => [r.day as string, r]));
      const maps = { queued: byDay(queued), outcomes: byDay(outcomes), bounces: byDay(bounces), opens: byDay(opens), clicks: byDay(clicks), unsubscribed: byDay(unsubscribed) };
      const days = new Set(Object.values(maps).flatMap((m) => [...m.keys()]));
      return {
        since: since.toISOString(),
        until: until.toISOString(),
        days: [...days].sort().map((day) => {
          const o = maps.outcomes.get(day);
          const b = maps.bounces.get(day);
          const sent = (o?.sent as number | undefined) ?? 0;
          const rate = (x: number) => (sent > 0 ? Number((x / sent).toFixed(4)) : null);
          return {
            day,
            queued: (maps.queued.get(day)?.n as number | undefined) ?? 0,
            sent,
            failed: (o?.failed as number | undefined) ?? 0,
            suppressed: (o?.suppressed as number | undefined) ?? 0,
            bounced: { hard: b?.hard ?? 0, soft: b?.soft ?? 0, sender: b?.sender ?? 0 },
            complained: b?.complained ?? 0,
            opens: { raw: maps.opens.get(day)?.raw ?? 0, human: maps.opens.get(day)?.human ?? 0 },
            clicks: { raw: maps.clicks.get(day)?.raw ?? 0, human: maps.clicks.get(day)?.human ?? 0 },
            unsubscribed: (maps.unsubscribed.get(day)?.n as number | undefined) ?? 0,
            rates: { hardBounce: rate(b?.hard ?? 0), complaint: rate(b?.complained ?? 0) },
          };
        }),
      };
    },
  );
};
