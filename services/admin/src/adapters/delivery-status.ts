import { deliveries, sql, withDatabase, type Queryable } from '@postbus/db';
import type { MessageStatus } from '../http/schemas.js';

type Timeline = MessageStatus['timeline'];

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/**
 * One message as the ledger (authoritative) has it, with its timeline from the `send_logs`
 * projection. Undefined when the ledger has no such message.
 */
export async function readMessageStatus(db: Queryable, messageId: string): Promise<MessageStatus | undefined> {
  return withDatabase(async () => {
    const row = await deliveries(db).findOne({ message_id: messageId });
    if (!row) return undefined;
    return {
      id: row.message_id,
      state: row.state,
      kind: row.kind,
      accountId: row.account_id,
      campaignId: row.campaign_id,
      to: row.recipient,
      subject: row.subject,
      attempt: row.attempt,
      assignment: row.assignment,
      sendFailures: row.send_failures,
      requestedAt: row.requested_at.toISOString(),
      assignedAt: iso(row.assigned_at),
      sendingAt: iso(row.sending_at),
      outcomeAt: iso(row.outcome_at),
      reason: row.reason,
      replyCode: row.reply_code,
      reply: row.reply,
      expiresAt: row.expires_at.toISOString(),
      timeline: await readTimeline(db, messageId),
    };
  });
}

/** The projection may not exist yet (the projector creates it): no table, no timeline. */
async function readTimeline(db: Queryable, messageId: string): Promise<Timeline> {
  try {
    const rows = await db.query(sql`
      SELECT event_id, account_id, type, attempt, occurred_at, detail FROM send_logs
      WHERE message_id = ${messageId} ORDER BY occurred_at, event_id`);
    return rows.map((r) => ({
      eventId: String(r.event_id),
      type: String(r.type),
      accountId: r.account_id ?? null,
      attempt: r.attempt ?? null,
      occurredAt: r.occurred_at instanceof Date ? r.occurred_at.toISOString() : String(r.occurred_at),
      detail: r.detail ?? null,
    }));
  } catch (err) {
    if ((err as { code?: unknown }).code === '42P01') return [];
    throw err;
  }
}
