import { sql, type SQLQuery } from '@databases/pg';
import type { Database } from '../connect.js';

export type Outcome =
  | { readonly kind: 'sent'; readonly messageId: string; readonly replyCode?: number; readonly reply?: string; readonly headerMessageId: string }
  | {
      readonly kind: 'retry';
      readonly messageId: string;
      readonly nextAttemptAt: Date;
      /** False for account- and platform-scope failures and for sends that never began. */
      readonly consumed: boolean;
      readonly reason: string;
      readonly replyCode?: number;
      readonly reply?: string;
    }
  | { readonly kind: 'failed'; readonly messageId: string; readonly reason: string; readonly replyCode?: number; readonly reply?: string }
  | { readonly kind: 'uncertain'; readonly messageId: string; readonly reason: string };

export interface AdvanceInput {
  readonly accountId: string;
  readonly epoch: number;
  readonly now: Date;
  /** The outcome of the message just sent, if any. */
  readonly outcome?: Outcome;
  /** The next message to mark `sending`, if any: durable before its MAIL FROM. */
  readonly next?: string;
}

export interface AdvanceResult {
  /** The outcome was written (false: the row had moved on, e.g. taken by a newer worker). */
  readonly recorded: boolean;
  /** `next` is now `sending` and may be sent. */
  readonly marked: boolean;
  /** The worker's epoch is no longer current: it must stop. */
  readonly stale: boolean;
}

/**
 * One statement per message sent: the previous message's outcome and the next message's
 * `sending` mark, in one autocommit round trip (this runs once per email). The outcome is
 * written even by a worker whose epoch has passed (it knows what the server answered); the
 * mark is refused to it. The fence is the message row itself: a new epoch's recovery resets
 * every `claimed` row in the same transaction as the bump, so this UPDATE either finds the row
 * no longer `claimed` (after waiting for the recovery's row lock) or turns it `sending` first,
 * and the recovery then records it `uncertain`. The epoch read is a second guard.
 */
export async function advance(db: Database, input: AdvanceInput): Promise<AdvanceResult> {
  const { accountId, epoch, now, outcome: o, next } = input;
  const parts: SQLQuery[] = [sql`ep AS (SELECT epoch FROM account_epochs WHERE account_id = ${accountId})`];
  if (o) {
    parts.push(sql`prev AS (SELECT message_id, state AS prev_state FROM deliveries
                    WHERE message_id = ${o.messageId} AND claim_epoch = ${epoch} AND state IN ('sending', 'uncertain') FOR UPDATE)`);
    parts.push(sql`outcome AS (${outcomeUpdate(o, now)})`);
    if (o.kind === 'sent' || o.kind === 'uncertain') {
      // Counted against the limit only when this write is the one that settles it.
      parts.push(sql`quota AS (INSERT INTO quota_usage (account_id, minute, sent)
                     SELECT ${accountId}, date_trunc('minute', ${now}::timestamptz), count(*) FROM outcome WHERE prev_state = 'sending' HAVING count(*) > 0
                     ON CONFLICT (account_id, minute) DO UPDATE SET sent = quota_usage.sent + EXCLUDED.sent)`);
    }
  }
  if (next) {
    parts.push(sql`mark AS (UPDATE deliveries SET state = 'sending', sending_at = ${now}, updated_at = now()
                    WHERE message_id = ${next} AND state = 'claimed' AND claim_epoch = ${epoch}
                      AND EXISTS (SELECT 1 FROM ep WHERE epoch = ${epoch}) RETURNING 1)`);
  }
  const [row] = await db.query(sql`WITH ${sql.join(parts, sql`, `)}
    SELECT ${o ? sql`(SELECT count(*) FROM outcome)::int` : sql`0`} AS recorded,
           ${next ? sql`(SELECT count(*) FROM mark)::int` : sql`0`} AS marked,
           (SELECT epoch FROM ep) AS epoch`);
  const stale = row?.epoch !== epoch;
  return { recorded: (row?.recorded ?? 0) > 0, marked: !stale && (row?.marked ?? 0) > 0, stale: next ? stale : false };
}

/** The outcome as an UPDATE … FROM prev (the row as the worker left it), returning prev_state. */
function outcomeUpdate(o: Outcome, now: Date): SQLQuery {
  const reply = sql`reply_code = ${'replyCode' in o ? (o.replyCode ?? null) : null}, reply = ${'reply' in o ? (o.reply ?? null) : null}`;
  switch (o.kind) {
    case 'sent':
      return sql`UPDATE deliveries d SET state = 'sent', outcome_at = ${now}, reason = NULL, ${reply},
                   header_message_id = ${o.headerMessageId}, updated_at = now()
                 FROM prev WHERE d.message_id = prev.message_id RETURNING prev.prev_state`;
    case 'uncertain':
      return sql`UPDATE deliveries d SET state = 'uncertain', outcome_at = ${now}, reason = ${o.reason}, updated_at = now()
                 FROM prev WHERE d.message_id = prev.message_id AND prev.prev_state = 'sending' RETURNING prev.prev_state`;
    case 'retry':
      return sql`UPDATE deliveries d SET state = 'retry_wait', next_attempt_at = ${o.nextAttemptAt}, reason = ${o.reason},
                   send_failures = d.send_failures + ${o.consumed ? 1 : 0}, ${reply}, claim_epoch = NULL, updated_at = now()
                 FROM prev WHERE d.message_id = prev.message_id AND prev.prev_state = 'sending' RETURNING prev.prev_state`;
    case 'failed':
      return sql`UPDATE deliveries d SET state = 'failed', outcome_at = ${now}, reason = ${o.reason}, ${reply}, updated_at = now()
                 FROM prev WHERE d.message_id = prev.message_id AND prev.prev_state = 'sending' RETURNING prev.prev_state`;
    default: {
      const never: never = o;
      return never;
    }
  }
}

/** Claimed messages the worker will not send now (stopping, lease gone): back to `assigned`, nothing used. */
export async function releaseClaims(db: Database, accountId: string, epoch: number, messageIds: readonly string[]): Promise<void> {
  if (messageIds.length === 0) return;
  await db.query(sql`
    UPDATE deliveries SET state = 'assigned', claim_epoch = NULL, claimed_at = NULL, updated_at = now()
    WHERE message_id = ANY(${messageIds}::text[]) AND account_id = ${accountId} AND state = 'claimed' AND claim_epoch = ${epoch}`);
}
