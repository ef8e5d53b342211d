import { isMailBatch, singlesOf, streamName, type FeedbackEvent, type MailBatchEvent, type Namespace, type PostbusEvent } from '@postbus/contracts';
import { sql, type Projection, type StoredMessage, type Transaction } from '@postbus/db';
import { decodeBatch } from '../adapters/decode.js';
import { foldQueueRows, STATUS_OF, type QueueEvent, type QueueRow, type QueueStatus } from '../domain/queue-row.js';
import { sendLogOf, type SendLogRow } from '../domain/send-log.js';
import { firstOfEach, ts } from '../adapters/sql.js';
import { silentLog, type ProjectionOptions } from '../options.js';
import { canonicalTime } from '../domain/time.js';

export const MAIL_PROJECTION = 'mail';
export const MAIL_LOCK_KEY = 7_240_102;

const ddl = [
  sql`CREATE TABLE IF NOT EXISTS email_queue (
    message_id    text PRIMARY KEY,
    kind          text,
    recipient     text,
    subject       text,
    campaign_id   text,
    account_id    text,
    status        text NOT NULL,
    assignment    integer NOT NULL,
    attempt       integer NOT NULL,
    requested_at  timestamptz,
    queued_at     timestamptz,
    sent_at       timestamptz,
    outcome_at    timestamptz,
    last_reason   text,
    reply_code    integer,
    updated_at    timestamptz NOT NULL
  )`,
  sql`CREATE INDEX IF NOT EXISTS email_queue_status ON email_queue (status, updated_at)`,
  sql`CREATE INDEX IF NOT EXISTS email_queue_account ON email_queue (account_id, status)`,
  sql`CREATE INDEX IF NOT EXISTS email_queue_campaign ON email_queue (campaign_id, status) WHERE campaign_id IS NOT NULL`,
  sql`CREATE TABLE IF NOT EXISTS send_logs (
    event_id     text PRIMARY KEY,
    message_id   text NOT NULL,
    account_id   text,
    type         text NOT NULL,
    attempt      integer,
    occurred_at  timestamptz NOT NULL,
    detail       jsonb NOT NULL
  )`,
  sql`CREATE INDEX IF NOT EXISTS send_logs_message ON send_logs (message_id, occurred_at)`,
  sql`CREATE INDEX IF NOT EXISTS send_logs_occurred ON send_logs (occurred_at)`,
  // Bounces and complaints of our messages (the bounce processor's events), addresses as hashes.
  sql`CREATE TABLE IF NOT EXISTS bounce_list (
    event_id      text PRIMARY KEY,
    kind          text NOT NULL,
    message_id    text,
    account_id    text,
    campaign_id   text,
    address_hash  text NOT NULL,
    severity      text,
    reason        text NOT NULL,
    status        text,
    reply_code    integer,
    diagnostic    text,
    suppressed    boolean NOT NULL,
    occurred_at   timestamptz NOT NULL
  )`,
  sql`CREATE INDEX IF NOT EXISTS bounce_list_account ON bounce_list (account_id, occurred_at)`,
  sql`CREATE INDEX IF NOT EXISTS bounce_list_campaign ON bounce_list (campaign_id, occurred_at) WHERE campaign_id IS NOT NULL`,
  sql`CREATE INDEX IF NOT EXISTS bounce_list_occurred ON bounce_list (occurred_at, event_id)`,
];

const isFeedbackEvent = (e: PostbusEvent): e is FeedbackEvent => e.type === 'EmailBounced' || e.type === 'EmailComplained';

const isQueueEvent = (e: PostbusEvent): e is QueueEvent =>
  e.messageId !== undefined && (e.type === 'EmailRequested' || e.type in STATUS_OF);

/**
 * `email_queue` (one row per message) and `send_logs` (one row per event) from REQUESTS and
 * MAIL. Three statements a batch: the log rows (whose conflicts say which events were seen
 * before: those are not folded again), the current rows, the folded rows.
 */
export function mailProjection(ns: Namespace, opts: ProjectionOptions = {}): Projection {
  const ctx = { projection: MAIL_PROJECTION, ns, log: opts.log ?? silentLog };
  return {
    name: MAIL_PROJECTION,
    lockKey: MAIL_LOCK_KEY,
    streams: [streamName(ns, 'REQUESTS'), streamName(ns, 'MAIL')],
    tables: ['email_queue', 'send_logs', 'bounce_list'],
    ddl,
    async apply(tx: Transaction, messages: readonly StoredMessage[]) {
      const decoded = decodeBatch(ctx, messages, (e): e is QueueEvent | FeedbackEvent | MailBatchEvent => isQueueEvent(e) || isFeedbackEvent(e) || isMailBatch(e));
      await insertFeedback(tx, decoded.filter(isFeedbackEvent));
      // A batch (of sends, of queueings) is folded as the single events it stands for, each with its own id.
      const events = decoded.flatMap((e): PostbusEvent[] => (isMailBatch(e) ? singlesOf(e) : [e])).filter(isQueueEvent);
      if (events.length === 0) return;
      const fresh = await insertLogs(tx, events.map(sendLogOf));
      const news = events.filter((e) => fresh.delete(e.id));
      if (news.length === 0) return;
      const current = await loadRows(tx, [...new Set(news.map((e) => e.messageId))]);
      const next = foldQueueRows(current, news);
      await upsertRows(tx, [...next.values()].filter((r) => !sameRow(r, current.get(r.messageId))));
    },
  };
}

/** Inserts the rows not seen before; returns the ids inserted. */
async function insertLogs(tx: Transaction, rows: readonly SendLogRow[]): Promise<Set<string>> {
  const unique = firstOfEach(rows, (r) => r.eventId);
  const inserted = await tx.query(sql`
    INSERT INTO send_logs (event_id, message_id, account_id, type, attempt, occurred_at, detail)
    SELECT e, m, a, t, n, o::timestamptz, d::jsonb
    FROM unnest(${unique.map((r) => r.eventId)}::text[], ${unique.map((r) => r.messageId)}::text[],
                ${unique.map((r) => r.accountId)}::text[], ${unique.map((r) => r.type)}::text[],
                ${unique.map((r) => r.attempt)}::int[], ${unique.map((r) => r.occurredAt)}::text[],
                ${unique.map((r) => JSON.stringify(r.detail))}::text[]) AS x(e, m, a, t, n, o, d)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id`);
  return new Set(inserted.map((r) => r.event_id as string));
}

async function loadRows(tx: Transaction, ids: readonly string[]): Promise<Map<string, QueueRow>> {
  const rows = await tx.query(sql`
    SELECT message_id, kind, recipient, subject, campaign_id, account_id, status, assignment, attempt,
           ${ts('requested_at')} AS requested_at, ${ts('queued_at')} AS queued_at, ${ts('sent_at')} AS sent_at,
           ${ts('outcome_at')} AS outcome_at, last_reason, reply_code, ${ts('updated_at')} AS updated_at
    FROM email_queue WHERE message_id = ANY(${ids}::text[])`);
  return new Map(rows.map((r) => [r.message_id as string, toQueueRow(r)]));
}

export function toQueueRow(r: Record<string, any>): QueueRow {
  return {
    messageId: r.message_id,
    kind: r.kind,
    recipient: r.recipient,
    subject: r.subject,
    campaignId: r.campaign_id,
    accountId: r.account_id,
    status: r.status as QueueStatus,
    assignment: r.assignment,
    attempt: r.attempt,
    requestedAt: r.requested_at,
    queuedAt: r.queued_at,
    sentAt: r.sent_at,
    outcomeAt: r.outcome_at,
    lastReason: r.last_reason,
    replyCode: r.reply_code,
    updatedAt: r.updated_at,
  };
}

async function upsertRows(tx: Transaction, rows: readonly QueueRow[]): Promise<void> {
  if (rows.length === 0) return;
  const col = <K extends keyof QueueRow>(k: K) => rows.map((r) => r[k]);
  await tx.query(sql`
    INSERT INTO email_queue (message_id, kind, recipient, subject, campaign_id, account_id, status, assignment, attempt,
                             requested_at, queued_at, sent_at, outcome_at, last_reason, reply_code, updated_at)
    SELECT * FROM unnest(
      ${col('messageId')}::text[], ${col('kind')}::text[], ${col('recipient')}::text[], ${col('subject')}::text[],
      ${col('campaignId')}::text[], ${col('accountId')}::text[], ${col('status')}::text[], ${col('assignment')}::int[],
      ${col('attempt')}::int[], ${col('requestedAt')}::timestamptz[], ${col('queuedAt')}::timestamptz[],
      ${col('sentAt')}::timestamptz[], ${col('outcomeAt')}::timestamptz[], ${col('lastReason')}::text[],
      ${col('replyCode')}::int[], ${col('updatedAt')}::timestamptz[])
    ON CONFLICT (message_id) DO UPDATE SET
      kind = EXCLUDED.kind, recipient = EXCLUDED.recipient, subject = EXCLUDED.subject, campaign_id = EXCLUDED.campaign_id,
      account_id = EXCLUDED.account_id, status = EXCLUDED.status, assignment = EXCLUDED.assignment, attempt = EXCLUDED.attempt,
      requested_at = EXCLUDED.requested_at, queued_at = EXCLUDED.queued_at, sent_at = EXCLUDED.sent_at,
      outcome_at = EXCLUDED.outcome_at, last_reason = EXCLUDED.last_reason, reply_code = EXCLUDED.reply_code,
      updated_at = EXCLUDED.updated_at`);
}

function sameRow(a: QueueRow, b: QueueRow | undefined): boolean {
  return b !== undefined && (Object.keys(a) as Array<keyof QueueRow>).every((k) => a[k] === b[k]);
}

/** One bounce_list row per bounce or complaint event (a replayed event changes nothing). */
async function insertFeedback(tx: Transaction, events: readonly FeedbackEvent[]): Promise<void> {
  const rows = firstOfEach(events, (e) => e.id);
  if (rows.length === 0) return;
  const bounce = (e: FeedbackEvent) => (e.type === 'EmailBounced' ? e.data : undefined);
  await tx.query(sql`
    INSERT INTO bounce_list (event_id, kind, message_id, account_id, campaign_id, address_hash, severity, reason, status, reply_code, diagnostic, suppressed, occurred_at)
    SELECT * FROM unnest(
      ${rows.map((e) => e.id)}::text[], ${rows.map((e) => (e.type === 'EmailBounced' ? 'bounce' : 'complaint'))}::text[],
      ${rows.map((e) => e.messageId ?? null)}::text[], ${rows.map((e) => e.accountId ?? null)}::text[],
      ${rows.map((e) => e.data.campaignId ?? null)}::text[], ${rows.map((e) => e.data.addressHash)}::text[],
      ${rows.map((e) => bounce(e)?.severity ?? null)}::text[],
      ${rows.map((e) => (e.type === 'EmailBounced' ? e.data.reason : e.data.feedbackType))}::text[],
      ${rows.map((e) => bounce(e)?.status ?? null)}::text[], ${rows.map((e) => bounce(e)?.replyCode ?? null)}::int[],
      ${rows.map((e) => bounce(e)?.diagnostic ?? null)}::text[], ${rows.map((e) => (e.type === 'EmailBounced' ? e.data.suppressed : true))}::boolean[],
      ${rows.map((e) => canonicalTime(e.occurredAt))}::timestamptz[])
    ON CONFLICT (event_id) DO NOTHING`);
}
