import { sql, type SQLQuery } from '@databases/pg';

/**
 * An account's usage as select-list columns — the one definition of the limit windows, read by
 * the dispatcher (credit) and by the claim (room). A bucket holds the sends of one minute,
 * stamped no earlier than the server's acceptance; it leaves the rolling window a minute late
 * so that no send in it is forgotten early. Messages claimed or sending count as sent.
 */
export function usageColumns(account: SQLQuery, now: Date): SQLQuery {
  return sql`
    COALESCE((SELECT sum(q.sent) FROM quota_usage q WHERE q.account_id = ${account}
                AND q.minute >= date_trunc('day', ${now}::timestamptz, 'UTC')), 0)::int AS sent_today,
    COALESCE((SELECT sum(q.sent) FROM quota_usage q WHERE q.account_id = ${account}
                AND q.minute > ${now}::timestamptz - interval '24 hours 1 minute'), 0)::int AS sent_rolling,
    (SELECT count(*) FROM deliveries d WHERE d.account_id = ${account} AND d.state IN ('claimed', 'sending'))::int AS in_flight`;
}
