import { sql } from '@databases/pg';
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
 * One call per message sent (`ledger_advance`, migrations/0002): the previous message's
 * outcome and the next message's `sending` mark, in one autocommit round trip. The outcome is
 * written even by a worker whose epoch has passed (it knows what the server answered); the
 * mark is refused to it. The fence is the message row itself: a new epoch's recovery resets
 * every `claimed` row in the same transaction as the bump, so this UPDATE either finds the row
 * no longer `claimed` (after waiting for the recovery's row lock) or turns it `sending` first,
 * and the recovery then records it `uncertain`. The epoch read is a second guard.
 */
export async function advance(db: Database, input: AdvanceInput): Promise<AdvanceResult> {
  const { accountId, epoch, now, outcome: o, next } = input;
  const reply = o && 'reply' in o ? (o.reply ?? null) : null;
  const replyCode = o && 'replyCode' in o ? (o.replyCode ?? null) : null;
  const [row] = await db.query(sql`
    SELECT recorded, marked, current_epoch FROM ledger_advance(
      ${accountId}, ${epoch}, ${now}, ${o?.kind ?? null}, ${o?.messageId ?? null}, ${replyCode}, ${reply},
      ${o?.kind === 'sent' ? o.headerMessageId : null}, ${o && 'reason' in o ? o.reason : null},
      ${o?.kind === 'retry' ? o.nextAttemptAt : null}, ${o?.kind === 'retry' ? o.consumed : null}, ${next ?? null})`);
  const stale = row?.current_epoch !== epoch;
  return { recorded: row?.recorded === true, marked: row?.marked === true, stale: next ? stale : false };
}

/** Claimed messages the worker will not send now (stopping, lease gone): back to `assigned`, nothing used. */
export async function releaseClaims(db: Database, accountId: string, epoch: number, messageIds: readonly string[]): Promise<void> {
  if (messageIds.length === 0) return;
  await db.query(sql`
    UPDATE deliveries SET state = 'assigned', claim_epoch = NULL, claimed_at = NULL, updated_at = now()
    WHERE message_id = ANY(${messageIds}::text[]) AND account_id = ${accountId} AND state = 'claimed' AND claim_epoch = ${epoch}`);
}
