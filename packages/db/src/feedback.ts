import { sql, type Queryable } from '@databases/pg';
import { newId } from '@postbus/contracts';
import { putSecret, type SecretCipher } from './secret-store.js';

/** A polled mailbox (migration 0005). The password stays in `secrets`, under `secretId`. */
export interface FeedbackMailbox {
  readonly id: string;
  /** The account whose mail bounces come back here; null for a platform feedback mailbox. */
  readonly accountId: string | null;
  readonly purpose: 'account' | 'feedback';
  readonly host: string;
  readonly port: number;
  readonly tls: 'none' | 'starttls' | 'implicit';
  readonly username: string;
  readonly secretId: string;
  readonly folder: string;
  readonly uidValidity: number | null;
  readonly lastUid: number;
  readonly lastPolledAt: Date | null;
  readonly lastError: string | null;
}

export interface NewMailbox {
  readonly accountId: string | null;
  readonly purpose: 'account' | 'feedback';
  readonly host: string;
  readonly port: number;
  readonly tls: 'none' | 'starttls' | 'implicit';
  readonly username: string;
  readonly password: string;
  readonly folder?: string;
}

const mailboxOf = (r: Record<string, any>): FeedbackMailbox => ({
  id: r.id,
  accountId: r.account_id,
  purpose: r.purpose,
  host: r.host,
  port: r.port,
  tls: r.tls,
  username: r.username,
  secretId: r.secret_id,
  folder: r.folder,
  uidValidity: r.uid_validity === null ? null : Number(r.uid_validity),
  lastUid: Number(r.last_uid),
  lastPolledAt: r.last_polled_at,
  lastError: r.last_error,
});

/** Adds a mailbox (an account has at most one: a second replaces the first, cursor and all). */
export async function addMailbox(db: Queryable, cipher: SecretCipher, input: NewMailbox): Promise<FeedbackMailbox> {
  const id = newId('mbx');
  const secretId = `mailbox:${id}`;
  await putSecret(db, cipher, secretId, 'imap_password', input.password);
  if (input.purpose === 'account') await db.query(sql`DELETE FROM feedback_mailboxes WHERE purpose = 'account' AND account_id = ${input.accountId}`);
  const [row] = await db.query(sql`
    INSERT INTO feedback_mailboxes (id, account_id, purpose, host, port, tls, username, secret_id, folder)
    VALUES (${id}, ${input.accountId}, ${input.purpose}, ${input.host}, ${input.port}, ${input.tls}, ${input.username}, ${secretId}, ${input.folder ?? 'INBOX'})
    RETURNING *`);
  return mailboxOf(row as Record<string, unknown>);
}

export async function listMailboxes(db: Queryable): Promise<FeedbackMailbox[]> {
  return (await db.query(sql`SELECT * FROM feedback_mailboxes ORDER BY id`)).map(mailboxOf);
}

export async function getMailbox(db: Queryable, id: string): Promise<FeedbackMailbox | null> {
  const [row] = await db.query(sql`SELECT * FROM feedback_mailboxes WHERE id = ${id}`);
  return row ? mailboxOf(row) : null;
}

export async function removeMailbox(db: Queryable, id: string): Promise<boolean> {
  const rows = await db.query(sql`DELETE FROM feedback_mailboxes WHERE id = ${id} RETURNING secret_id`);
  if (rows.length === 0) return false;
  await db.query(sql`DELETE FROM secrets WHERE id = ${rows[0]!.secret_id}`);
  return true;
}

/** Moves the mailbox's cursor (in the transaction that recorded what was read up to it). */
export async function saveMailboxCursor(db: Queryable, id: string, uidValidity: number, lastUid: number): Promise<void> {
  await db.query(sql`
    UPDATE feedback_mailboxes SET uid_validity = ${uidValidity}, last_uid = ${lastUid}
    WHERE id = ${id} AND (uid_validity IS DISTINCT FROM ${uidValidity} OR last_uid < ${lastUid})`);
}

export async function markMailboxPolled(db: Queryable, id: string, error: string | null): Promise<void> {
  await db.query(sql`UPDATE feedback_mailboxes SET last_polled_at = now(), last_error = ${error} WHERE id = ${id}`);
}

/** Records that a report mail was read; false when it was already (then nothing else is done). */
export async function recordReport(
  db: Queryable,
  r: { mailboxId: string; uidValidity: number; uid: number; kind: string; recipients: number; matched: number; note?: string },
): Promise<boolean> {
  const rows = await db.query(sql`
    INSERT INTO feedback_reports (mailbox_id, uid_validity, uid, kind, recipients, matched, note)
    VALUES (${r.mailboxId}, ${r.uidValidity}, ${r.uid}, ${r.kind}, ${r.recipients}, ${r.matched}, ${r.note ?? null})
    ON CONFLICT DO NOTHING RETURNING uid`);
  return rows.length === 1;
}

/** One of our messages, as a report names it. */
export interface ReportedMessage {
  readonly messageId: string;
  readonly accountId: string | null;
  readonly campaignId: string | null;
  readonly recipient: string;
}

const reportedOf = (r: Record<string, any>): ReportedMessage => ({ messageId: r.message_id, accountId: r.account_id, campaignId: r.campaign_id, recipient: r.recipient });

export async function findReportedMessage(db: Queryable, messageId: string): Promise<ReportedMessage | null> {
  const [row] = await db.query(sql`SELECT message_id, account_id, campaign_id, recipient FROM deliveries WHERE message_id = ${messageId}`);
  return row ? reportedOf(row) : null;
}

/** The last message sent to an address (through one account, when given): for reports that name no message. */
export async function lastMessageTo(db: Queryable, recipient: string, accountId: string | null): Promise<ReportedMessage | null> {
  const [row] = await db.query(sql`
    SELECT message_id, account_id, campaign_id, recipient FROM deliveries
    WHERE lower(recipient) = lower(${recipient}) AND state IN ('sent', 'uncertain')
      AND (${accountId}::text IS NULL OR account_id = ${accountId})
    ORDER BY outcome_at DESC NULLS LAST LIMIT 1`);
  return row ? reportedOf(row) : null;
}

export interface BounceRecord {
  readonly eventId: string;
  readonly accountId: string | null;
  readonly messageId: string | null;
  readonly campaignId: string | null;
  readonly addressHash: Buffer;
  readonly kind: 'bounce' | 'complaint';
  readonly severity: 'hard' | 'soft' | 'sender' | 'complaint';
  readonly reason: string;
}

export async function recordBounce(db: Queryable, b: BounceRecord): Promise<void> {
  await db.query(sql`
    INSERT INTO bounces (event_id, account_id, message_id, campaign_id, address_hash, kind, severity, reason)
    VALUES (${b.eventId}, ${b.accountId}, ${b.messageId}, ${b.campaignId}, ${b.addressHash}, ${b.kind}, ${b.severity}, ${b.reason})
    ON CONFLICT (event_id) DO NOTHING`);
}

/** Soft bounces of one address since a time (the one being recorded included once it is in). */
export async function softBouncesSince(db: Queryable, addressHash: Buffer, since: Date): Promise<number> {
  const [row] = await db.query(sql`
    SELECT count(*)::int AS n FROM bounces WHERE address_hash = ${addressHash} AND severity = 'soft' AND occurred_at >= ${since}`);
  return row!.n as number;
}

/** One account's last 24 h: what the rates are measured on (DESIGN.md, "Rates"). */
export interface AccountRates {
  readonly accountId: string;
  /** Messages the receiving servers accepted (quota_usage). */
  readonly sent: number;
  readonly hard: number;
  readonly complaints: number;
  /** Rejections for policy, spam filtering, reputation, authentication, rate or size. */
  readonly sender: number;
}

/** Rates of every account with a bounce or complaint since `since`. */
export async function accountRates(db: Queryable, since: Date): Promise<AccountRates[]> {
  const rows = await db.query(sql`
    WITH b AS (
      SELECT account_id,
             count(*) FILTER (WHERE severity = 'hard')::int AS hard,
             count(*) FILTER (WHERE kind = 'complaint')::int AS complaints,
             count(*) FILTER (WHERE severity = 'sender')::int AS sender
      FROM bounces WHERE occurred_at >= ${since} AND account_id IS NOT NULL GROUP BY account_id)
    SELECT b.*, COALESCE((SELECT sum(q.sent) FROM quota_usage q WHERE q.account_id = b.account_id AND q.minute >= ${since}), 0)::int AS sent
    FROM b ORDER BY b.account_id`);
  return rows.map((r) => ({ accountId: r.account_id, sent: r.sent, hard: r.hard, complaints: r.complaints, sender: r.sender }));
}

/** The bounce processor's outbox: events written with the rows that caused them. */
export async function enqueueFeedbackEvent(db: Queryable, subject: string, event: { id: string }): Promise<void> {
  await db.query(sql`
    INSERT INTO feedback_outbox (event_id, subject, event) VALUES (${event.id}, ${subject}, ${JSON.stringify(event)})
    ON CONFLICT (event_id) DO NOTHING`);
}

export interface OutboxRow {
  readonly id: string;
  readonly subject: string;
  readonly event: string;
}

/** The oldest outbox rows at least `minAgeMs` old, locked for the caller's transaction (others skip them). */
export async function pendingFeedbackEvents(db: Queryable, minAgeMs: number, limit: number): Promise<OutboxRow[]> {
  const rows = await db.query(sql`
    SELECT event_id, subject, event FROM feedback_outbox
    WHERE created_at <= now() - make_interval(secs => ${minAgeMs / 1000})
    ORDER BY created_at, event_id LIMIT ${limit}
    FOR UPDATE SKIP LOCKED`);
  return rows.map((r) => ({ id: r.event_id, subject: r.subject, event: r.event }));
}

export async function removeFeedbackEvents(db: Queryable, ids: readonly string[]): Promise<void> {
  if (ids.length > 0) await db.query(sql`DELETE FROM feedback_outbox WHERE event_id = ANY(${[...ids]})`);
}
