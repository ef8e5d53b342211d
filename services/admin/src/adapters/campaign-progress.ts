import { campaignCounts, sql, withDatabase, type Queryable } from '@postbus/db';
import type { Static } from '@sinclair/typebox';
import type { CampaignProgress } from '../http/campaign-schemas.js';

type Progress = Static<typeof CampaignProgress>;

/** A read table the projector has not created yet counts as empty. */
async function rows(run: () => Promise<Array<Record<string, any>>>): Promise<Array<Record<string, any>>> {
  try {
    return await run();
  } catch (err) {
    if ((err as { code?: unknown }).code === '42P01') return [];
    throw err;
  }
}

/**
 * A campaign's progress: recipients and requests from Postgres (primary), message states
 * from `email_queue`, bounces and complaints from `bounce_list`, opens and clicks (unique
 * messages, by a person and by anything) from the tracking read tables.
 */
export async function readCampaignProgress(db: Queryable, campaignId: string): Promise<Progress> {
  return withDatabase(async () => {
    const [counts, states, feedback, opens, clicks] = await Promise.all([
      campaignCounts(db, campaignId),
      rows(() => db.query(sql`SELECT status, count(*)::int AS n FROM email_queue WHERE campaign_id = ${campaignId} GROUP BY status`)),
      rows(() =>
        db.query(sql`SELECT count(*) FILTER (WHERE kind = 'bounce')::int AS bounced, count(*) FILTER (WHERE kind = 'complaint')::int AS complained
                     FROM bounce_list WHERE campaign_id = ${campaignId}`),
      ),
      rows(() => db.query(sql`SELECT count(DISTINCT message_id)::int AS raw, count(DISTINCT message_id) FILTER (WHERE source = 'human')::int AS human FROM open_events WHERE campaign_id = ${campaignId}`)),
      rows(() => db.query(sql`SELECT count(DISTINCT message_id)::int AS raw, count(DISTINCT message_id) FILTER (WHERE source = 'human')::int AS human FROM click_events WHERE campaign_id = ${campaignId}`)),
    ]);
    const by = new Map(states.map((r) => [r.status as string, r.n as number]));
    const n = (s: string) => by.get(s) ?? 0;
    return {
      recipients: counts.recipients,
      requested: counts.requested,
      waiting: n('waiting') + n('requested'),
      queued: n('queued'),
      retrying: n('retry_wait'),
      sent: n('sent'),
      failed: n('failed'),
      suppressed: n('suppressed'),
      uncertain: n('uncertain'),
      expired: n('expired'),
      cancelled: n('cancelled'),
      bounced: feedback[0]?.bounced ?? 0,
      complained: feedback[0]?.complained ?? 0,
      opened: { human: opens[0]?.human ?? 0, raw: opens[0]?.raw ?? 0 },
      clicked: { human: clicks[0]?.human ?? 0, raw: clicks[0]?.raw ?? 0 },
    };
  });
}
