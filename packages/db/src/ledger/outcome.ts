import { sql, type Transaction } from '@databases/pg';
import type { Database } from '../connect.js';
import { countSent, lockEpoch, StaleEpochError } from './claim.js';

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
 * One transaction per message sent: the previous message's outcome and the next message's
 * `sending` mark. The outcome is written even by a worker whose epoch has passed (it knows
 * what the server answered); the mark is refused to it.
 */
export async function advance(db: Database, input: AdvanceInput): Promise<AdvanceResult> {
  return db.tx(async (tx) => {
    const recorded = input.outcome ? await applyOutcome(tx, input.accountId, input.epoch, input.outcome, input.now) : false;
    if (!input.next) return { recorded, marked: false, stale: false };
    try {
      await lockEpoch(tx, input.accountId, input.epoch, 'share');
    } catch (err) {
      if (err instanceof StaleEpochError) return { recorded, marked: false, stale: true };
      throw err;
    }
    const marked = await tx.query(sql`
      UPDATE deliveries SET state = 'sending', sending_at = ${input.now}, updated_at = now()
      WHERE message_id = ${input.next} AND state = 'claimed' AND claim_epoch = ${input.epoch}
      RETURNING message_id`);
    return { recorded, marked: marked.length === 1, stale: false };
  });
}

export async function applyOutcome(tx: Transaction, accountId: string, epoch: number, o: Outcome, now: Date): Promise<boolean> {
  // The row may have been turned `uncertain` by a newer worker's recovery; the truth still wins.
  const prev = sql`(SELECT message_id, state AS prev_state FROM deliveries
                    WHERE message_id = ${o.messageId} AND claim_epoch = ${epoch} AND state IN ('sending', 'uncertain') FOR UPDATE) AS p`;
  let rows: Array<Record<string, any>>;
  switch (o.kind) {
    case 'sent':
      rows = await tx.query(sql`
        UPDATE deliveries d SET state = 'sent', outcome_at = ${now}, reason = NULL, reply_code = ${o.replyCode ?? null},
               reply = ${o.reply ?? null}, header_message_id = ${o.headerMessageId}, updated_at = now()
        FROM ${prev} WHERE d.message_id = p.message_id RETURNING p.prev_state`);
      await countSent(tx, accountId, rows.filter((r) => r.prev_state === 'sending').length, now);
      return rows.length === 1;
    case 'uncertain':
      rows = await tx.query(sql`
        UPDATE deliveries d SET state = 'uncertain', outcome_at = ${now}, reason = ${o.reason}, updated_at = now()
        FROM ${prev} WHERE d.message_id = p.message_id AND p.prev_state = 'sending' RETURNING p.prev_state`);
      await countSent(tx, accountId, rows.length, now);
      return rows.length === 1;
    case 'retry':
      rows = await tx.query(sql`
        UPDATE deliveries d SET state = 'retry_wait', next_attempt_at = ${o.nextAttemptAt}, reason = ${o.reason},
               send_failures = d.send_failures + ${o.consumed ? 1 : 0}, reply_code = ${o.replyCode ?? null},
               reply = ${o.reply ?? null}, claim_epoch = NULL, updated_at = now()
        FROM ${prev} WHERE d.message_id = p.message_id AND p.prev_state = 'sending' RETURNING p.prev_state`);
      return rows.length === 1;
    case 'failed':
      rows = await tx.query(sql`
        UPDATE deliveries d SET state = 'failed', outcome_at = ${now}, reason = ${o.reason}, reply_code = ${o.replyCode ?? null},
               reply = ${o.reply ?? null}, updated_at = now()
        FROM ${prev} WHERE d.message_id = p.message_id AND p.prev_state = 'sending' RETURNING p.prev_state`);
      return rows.length === 1;
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
