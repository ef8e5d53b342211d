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
 * outcome and the next message's `sending` mark, in one autocommit round trip (or several
 * workers' calls in one: `AdvanceBatcher`). The outcome is
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

function toCall(input: AdvanceInput): Record<string, unknown> {
  const { outcome: o } = input;
  return {
    account: input.accountId,
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

/** Several advances (of different accounts) in one statement; each is applied on its own terms. */
async function advanceMany(db: Database, inputs: readonly AdvanceInput[]): Promise<AdvanceResult[]> {
  const rows = await db.query(sql`SELECT idx, recorded, marked, current_epoch FROM ledger_advance_many(${JSON.stringify(inputs.map(toCall))}::jsonb)`);
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
