import { sql } from '@databases/pg';
import type { Database } from '../connect.js';

export type Outcome =
  | {
      readonly kind: 'sent';
      readonly messageId: string;
      readonly replyCode?: number;
      readonly reply?: string;
      readonly headerMessageId: string;
      /** The provider's id (Gmail's); the ledger keeps it in `reply` (see GMAIL_REPLY). */
      readonly providerMessageId?: string;
    }
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
 * One call per message sent (`ledger_advance_many`, migrations/0011 and 0012; the rules of 0002's
 * `ledger_advance`): the previous message's outcome and the next message's `sending` mark, in
 * one autocommit round trip (or several workers' calls in one: `AdvanceBatcher`, applied in
 * three statements however many there are). The outcome is
 * written even by a worker whose epoch has passed (it knows what the server answered); the
 * mark is refused to it. The fence is the message row itself: a new epoch's recovery resets
 * every `claimed` row in the same transaction as the bump, so this UPDATE either finds the row
 * no longer `claimed` (after waiting for the recovery's row lock) or turns it `sending` first,
 * and the recovery then records it `uncertain`. The epoch read is a second guard.
 */
export async function advance(db: Database, input: AdvanceInput): Promise<AdvanceResult> {
  const [r] = await advanceMany(db, [input]);
  return r!;
}

function toCall(input: AdvanceInput, idx: number): Record<string, unknown> {
  const { outcome: o } = input;
  return {
    idx,    account: input.accountId,
    epoch: input.epoch,
    now: input.now.toISOString(),
    kind: o?.kind ?? null,
    message: o?.messageId ?? null,
    replyCode: o && 'replyCode' in o ? (o.replyCode ?? null) : null,
    reply: o && 'reply' in o ? (o.reply ?? null) : null,
    headerMessageId: o?.kind === 'sent' ? o.headerMessageId : null,
    reason: o && 'reason' in o ? o.reason : null,
    nextAttemptAt: o?.kind === 'retry' ? o.nextAttemptAt.toISOString() : null,
    consumed: o?.kind === 'retry' ? o.consumed : null,
    next: input.next ?? null,
  };
}

/** The argument of ledger_advance_many for these calls (each call's `idx` is its position). */
export function advanceCalls(inputs: readonly AdvanceInput[]): string {
  return JSON.stringify(inputs.map((input, i) => toCall(input, i)));
}

/** Several advances (of different accounts) in one statement; each is applied on its own terms. */
async function advanceMany(db: Database, inputs: readonly AdvanceInput[]): Promise<AdvanceResult[]> {
  const rows = await db.query(sql`SELECT idx, recorded, marked, current_epoch FROM ledger_advance_many(${advanceCalls(inputs)}::jsonb)`);
  const byIdx = new Map(rows.map((r) => [r.idx as number, r]));
  return inputs.map((input, i) => {
    const row = byIdx.get(i);
    const stale = row?.current_epoch !== input.epoch;
    return { recorded: row?.recorded === true, marked: row?.marked === true, stale: input.next ? stale : false };
  });
}

/**
 * Gathers the advance calls that arrive while one is in flight and sends them together: the
 * group commit of a sender process. No call waits for a timer: the first goes at once, the
 * ones that arrive meanwhile go when it returns.
 */
export class AdvanceBatcher {
  private queue: Array<{ input: AdvanceInput; resolve: (r: AdvanceResult) => void; reject: (e: unknown) => void }> = [];
  private inFlight = false;

  constructor(private readonly db: Database, private readonly maxBatch = 100) {}

  advance(input: AdvanceInput): Promise<AdvanceResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (!this.inFlight) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.inFlight = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const results = await advanceMany(this.db, batch.map((b) => b.input));
        batch.forEach((b, i) => b.resolve(results[i]!));
      } catch (err) {
        batch.forEach((b) => b.reject(err));
      }
    }
    this.inFlight = false;
  }
}

/** Claimed messages the worker will not send now (stopping, lease gone): back to `assigned`, nothing used. */
export async function releaseClaims(db: Database, accountId: string, epoch: number, messageIds: readonly string[]): Promise<void> {
  if (messageIds.length === 0) return;
  await db.query(sql`
    UPDATE deliveries SET state = 'assigned', claim_epoch = NULL, claimed_at = NULL, updated_at = now()
    WHERE message_id = ANY(${messageIds}::text[]) AND account_id = ${accountId} AND state = 'claimed' AND claim_epoch = ${epoch}`);
}

/** How a Gmail id is written in the ledger's `reply` column, and read back. */
export const GMAIL_REPLY = {
  format: (gmailId: string): string => `gmail id ${gmailId}`,
  parse: (reply: string | null | undefined): string | undefined => (reply ? /^gmail id (\S+)$/.exec(reply)?.[1] : undefined),
};

/** An `uncertain` row of an account: the provider may have the message. */
export interface UncertainRow {
  readonly messageId: string;
  readonly assignment: number;
  readonly attempt: number;
  readonly sendingAt: Date | null;
  readonly outcomeAt: Date | null;
}

/** The account's `uncertain` rows whose send began after `since` (those a Sent-mail search may still settle). */
export async function listUncertain(db: Database, accountId: string, since: Date, limit = 1000): Promise<UncertainRow[]> {
  const rows = await db.query(sql`
    SELECT message_id, assignment, attempt, sending_at, outcome_at FROM deliveries
    WHERE account_id = ${accountId} AND state = 'uncertain' AND (sending_at IS NULL OR sending_at >= ${since})
    ORDER BY sending_at LIMIT ${limit}`);
  return rows.map((r) => ({ messageId: r.message_id, assignment: r.assignment, attempt: r.attempt, sendingAt: r.sending_at, outcomeAt: r.outcome_at }));
}

export interface ResolveSentInput {
  readonly accountId: string;
  readonly epoch: number;
  readonly messageId: string;
  readonly headerMessageId: string;
  readonly reply: string;
}

/**
 * An `uncertain` row found at the provider (Gmail's Sent mail): `sent`. Fenced by the epoch
 * (a worker that lost the account writes nothing); `outcome_at` is kept, since the row was
 * counted against the limit in that minute when it became uncertain. Answers the row's
 * attempt (for the event) or null when the row is not uncertain any more or the epoch moved.
 */
export async function resolveUncertainSent(db: Database, input: ResolveSentInput): Promise<{ assignment: number; attempt: number; sendingAt: Date | null; outcomeAt: Date } | null> {
  return db.tx(async (tx) => {
    const [e] = await tx.query(sql`SELECT epoch FROM account_epochs WHERE account_id = ${input.accountId} FOR SHARE`);
    if (!e || Number(e.epoch) !== input.epoch) return null;
    const [r] = await tx.query(sql`
      UPDATE deliveries SET state = 'sent', reason = NULL, reply = ${input.reply}, header_message_id = ${input.headerMessageId}, updated_at = now()
      WHERE message_id = ${input.messageId} AND account_id = ${input.accountId} AND state = 'uncertain'
      RETURNING assignment, attempt, sending_at, outcome_at`);
    return r ? { assignment: r.assignment, attempt: r.attempt, sendingAt: r.sending_at, outcomeAt: r.outcome_at } : null;
  });
}
