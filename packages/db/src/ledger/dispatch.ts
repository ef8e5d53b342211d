import { sql, type Queryable, type Transaction } from '@databases/pg';
import type { MessageContent, MessageKind } from '@postbus/contracts';
import type { AccountUsage, Assignment, NewDelivery } from './types.js';

/**
 * The dispatcher's side of the ledger: rows for new requests (assigned or waiting), the
 * usage that bounds each account's credit, retries when due, waiting rows given room, expiry.
 */

export async function insertDeliveries(tx: Transaction, rows: readonly NewDelivery[], now: Date): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const inserted = await tx.query(sql`
    WITH t AS (
      SELECT * FROM unnest(${rows.map((r) => r.messageId)}::text[], ${rows.map((r) => r.kind)}::text[],
                ${rows.map((r) => r.pinnedAccountId)}::text[], ${rows.map((r) => r.accountId)}::text[],
                ${rows.map((r) => r.campaignId)}::text[], ${rows.map((r) => r.recipient)}::text[],
                ${rows.map((r) => r.content.subject)}::text[], ${rows.map((r) => JSON.stringify(r.content))}::text[],
                ${rows.map((r) => r.requestedAt)}::timestamptz[], ${rows.map((r) => r.requestedBy)}::text[],
                ${rows.map((r) => r.expiresAt)}::timestamptz[])
        AS t(m, k, p, a, c, r, s, ct, ra, rb, ex)
    ), ins AS (
      INSERT INTO deliveries (message_id, state, kind, pinned_account_id, account_id, campaign_id, recipient, subject,
                              assignment, attempt, requested_at, requested_by, assigned_at, expires_at)
      SELECT m, CASE WHEN a IS NULL THEN 'waiting' ELSE 'assigned' END, k, p, a, c, r, s,
             CASE WHEN a IS NULL THEN 0 ELSE 1 END, CASE WHEN a IS NULL THEN 0 ELSE 1 END, ra, rb,
             CASE WHEN a IS NULL THEN NULL ELSE ${now}::timestamptz END, ex
      FROM t
      ON CONFLICT (message_id) DO NOTHING
      RETURNING message_id
    ), contents AS (
      INSERT INTO delivery_contents (message_id, content) SELECT t.m, t.ct::jsonb FROM t JOIN ins ON ins.message_id = t.m
    )
    SELECT message_id FROM ins`);
  return new Set(inserted.map((r) => r.message_id as string));
}

/** Rows as the ledger has them now, for requests redelivered after their row was written. */
export async function currentAssignments(db: Queryable, messageIds: readonly string[]): Promise<Map<string, { state: string } & Assignment>> {
  if (messageIds.length === 0) return new Map();
  const rows = await db.query(sql`
    SELECT message_id, state, account_id, assignment, attempt, kind, recipient, subject, campaign_id, requested_at
    FROM deliveries WHERE message_id = ANY(${messageIds}::text[])`);
  return new Map(rows.map((r) => [r.message_id as string, { state: r.state as string, ...toAssignment(r) }]));
}

export async function accountUsage(db: Queryable, accountIds: readonly string[], now: Date): Promise<Map<string, AccountUsage>> {
  if (accountIds.length === 0) return new Map();
  const rows = await db.query(sql`
    SELECT a.id AS account_id, u.sent_today, u.sent_rolling, u.in_flight,
      (SELECT count(*) FROM deliveries d WHERE d.account_id = a.id
                  AND d.state IN ('assigned', 'claimed', 'sending', 'retry_wait'))::int AS open
    FROM unnest(${accountIds}::text[]) AS a(id), LATERAL ledger_usage(a.id, ${now}::timestamptz) u`);
  return new Map(
    rows.map((r) => [
      r.account_id as string,
      { accountId: r.account_id as string, sentToday: r.sent_today, sentRolling24h: r.sent_rolling, open: r.open, inFlight: r.in_flight },
    ]),
  );
}

export interface WaitingRow {
  readonly messageId: string;
  readonly kind: MessageKind;
  readonly pinnedAccountId: string | null;
  readonly recipient: string;
  readonly subject: string;
  readonly campaignId: string | null;
  readonly requestedAt: Date;
}

export async function lockWaiting(tx: Transaction, limit: number): Promise<WaitingRow[]> {
  const rows = await tx.query(sql`
    SELECT message_id, kind, pinned_account_id, recipient, subject, campaign_id, requested_at
    FROM deliveries WHERE state = 'waiting' ORDER BY requested_at, message_id LIMIT ${limit} FOR UPDATE SKIP LOCKED`);
  return rows.map((r) => ({
    messageId: r.message_id,
    kind: r.kind,
    pinnedAccountId: r.pinned_account_id,
    recipient: r.recipient,
    subject: r.subject,
    campaignId: r.campaign_id,
    requestedAt: r.requested_at,
  }));
}

export async function assignWaiting(tx: Transaction, pairs: ReadonlyArray<{ messageId: string; accountId: string }>, now: Date): Promise<Assignment[]> {
  if (pairs.length === 0) return [];
  const rows = await tx.query(sql`
    UPDATE deliveries d SET state = 'assigned', account_id = t.a, assignment = d.assignment + 1, attempt = 1,
                            assigned_at = ${now}, updated_at = now()
    FROM unnest(${pairs.map((p) => p.messageId)}::text[], ${pairs.map((p) => p.accountId)}::text[]) AS t(m, a)
    WHERE d.message_id = t.m AND d.state = 'waiting'
    RETURNING d.message_id, d.account_id, d.assignment, d.attempt, d.kind, d.recipient, d.subject, d.campaign_id, d.requested_at`);
  return rows.map(toAssignment);
}

/** Retries whose time has come: a new attempt (and a new work item id) on the same account. */
export async function takeDueRetries(tx: Transaction, now: Date, limit: number): Promise<Assignment[]> {
  const rows = await tx.query(sql`
    UPDATE deliveries d SET state = 'assigned', attempt = d.attempt + 1, assigned_at = ${now},
                            next_attempt_at = NULL, updated_at = now()
    WHERE d.message_id IN (SELECT message_id FROM deliveries WHERE state = 'retry_wait' AND next_attempt_at <= ${now}
                           ORDER BY next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    RETURNING d.message_id, d.account_id, d.assignment, d.attempt, d.kind, d.recipient, d.subject, d.campaign_id, d.requested_at`);
  return rows.map(toAssignment);
}

export interface ExpiredRow {
  readonly messageId: string;
  readonly accountId: string | null;
  readonly expiresAt: Date;
}

export async function expireDue(tx: Transaction, now: Date, limit: number): Promise<ExpiredRow[]> {
  const rows = await tx.query(sql`
    UPDATE deliveries d SET state = 'expired', outcome_at = ${now}, reason = 'expired', updated_at = now()
    WHERE d.message_id IN (SELECT message_id FROM deliveries WHERE state IN ('waiting', 'assigned', 'retry_wait')
                           AND expires_at <= ${now} LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    RETURNING d.message_id, d.account_id, d.expires_at`);
  return rows.map((r) => ({ messageId: r.message_id, accountId: r.account_id, expiresAt: r.expires_at }));
}

/** Assigned rows per account older than the cutoff: compared with DISPATCH to find lost work items. */
export async function assignedCounts(db: Queryable, olderThan: Date): Promise<Map<string, number>> {
  const rows = await db.query(sql`
    SELECT account_id, count(*)::int AS n FROM deliveries WHERE state = 'assigned' AND assigned_at < ${olderThan} GROUP BY account_id`);
  return new Map(rows.map((r) => [r.account_id as string, r.n as number]));
}

export async function assignedOf(db: Queryable, accountId: string, limit: number): Promise<Assignment[]> {
  const rows = await db.query(sql`
    SELECT message_id, account_id, assignment, attempt, kind, recipient, subject, campaign_id, requested_at
    FROM deliveries WHERE state = 'assigned' AND account_id = ${accountId} ORDER BY assigned_at LIMIT ${limit}`);
  return rows.map(toAssignment);
}

function toAssignment(r: Record<string, any>): Assignment {
  return {
    messageId: r.message_id,
    accountId: r.account_id,
    assignment: r.assignment,
    attempt: r.attempt,
    kind: r.kind,
    recipient: r.recipient,
    subject: r.subject,
    campaignId: r.campaign_id,
    requestedAt: r.requested_at,
  };
}

export type { MessageContent };
