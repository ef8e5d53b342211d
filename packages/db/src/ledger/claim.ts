import { sql, type Transaction } from '@databases/pg';
import { PostbusError, addressHash } from '@postbus/contracts';
import type { Database } from '../connect.js';
import type { ClaimedMessage, DeliveryState } from './types.js';

/**
 * The worker's side of the ledger. Every write that can lead to an SMTP transaction is
 * fenced by the account's epoch: a worker whose epoch is no longer current claims nothing
 * and marks nothing `sending`.
 */

export class StaleEpochError extends PostbusError {
  constructor(accountId: string, held: number, current: number | undefined) {
    super('stale_epoch', `epoch ${held} of account ${accountId} is no longer current (${current ?? 'none'})`, {
      scope: 'account',
      retryable: false,
      status: 409,
    });
  }
}

export interface Recovered {
  readonly messageId: string;
  readonly assignment: number;
  readonly attempt: number;
}

export interface EpochStart {
  readonly epoch: number;
  /** Claimed by a previous worker and never sent: back to `assigned`. */
  readonly reset: Recovered[];
  /** Claimed by crashed workers three times: failed, reason `quarantined`. */
  readonly quarantined: Recovered[];
  /** Marked `sending` by a previous worker: the server may have them. */
  readonly uncertain: Recovered[];
}

export const QUARANTINE_AFTER_CRASHES = 3;

/**
 * Settles what the account's previous workers left behind, as the worker of `epoch` (the
 * epoch the leader gave it when it placed the account; refused if no longer current).
 * Without `epoch` it takes a new one itself — a worker run without an orchestrator (tests).
 */
export async function startEpoch(db: Database, accountId: string, now: Date, epoch?: number): Promise<EpochStart> {
  return db.tx(async (tx) => {
    const [row] =
      epoch === undefined
        ? await tx.query(sql`
            INSERT INTO account_epochs (account_id, epoch) VALUES (${accountId}, 1)
            ON CONFLICT (account_id) DO UPDATE SET epoch = account_epochs.epoch + 1, updated_at = now()
            RETURNING epoch`)
        : [{ epoch: await lockEpoch(tx, accountId, epoch) }];
    const claimed = await tx.query(sql`
      UPDATE deliveries SET
        claim_failures = claim_failures + 1,
        state = CASE WHEN claim_failures + 1 >= ${QUARANTINE_AFTER_CRASHES} THEN 'failed' ELSE 'assigned' END,
        reason = CASE WHEN claim_failures + 1 >= ${QUARANTINE_AFTER_CRASHES} THEN 'quarantined' ELSE reason END,
        outcome_at = CASE WHEN claim_failures + 1 >= ${QUARANTINE_AFTER_CRASHES} THEN ${now}::timestamptz ELSE NULL END,
        claim_epoch = NULL, claimed_at = NULL, updated_at = now()
      WHERE account_id = ${accountId} AND state = 'claimed'
      RETURNING message_id, assignment, attempt, state`);
    const uncertain = await tx.query(sql`
      UPDATE deliveries SET state = 'uncertain', outcome_at = ${now}, reason = 'worker_stopped_during_send', updated_at = now()
      WHERE account_id = ${accountId} AND state = 'sending'
      RETURNING message_id, assignment, attempt`);
    // The server may have accepted them: they count against the limit.
    await countSent(tx, accountId, uncertain.length, now);
    const rec = (r: Record<string, any>): Recovered => ({ messageId: r.message_id, assignment: r.assignment, attempt: r.attempt });
    return {
      epoch: row!.epoch as number,
      reset: claimed.filter((r) => r.state === 'assigned').map(rec),
      quarantined: claimed.filter((r) => r.state === 'failed').map(rec),
      uncertain: uncertain.map(rec),
    };
  });
}

export interface WorkRef {
  readonly messageId: string;
  readonly assignment: number;
  readonly attempt: number;
}

/** A message already past its work: its outcome event is published again (same id), then the item acked. */
export interface SettledMessage {
  readonly messageId: string;
  readonly state: DeliveryState;
  readonly assignment: number;
  readonly attempt: number;
  readonly sendingAt: Date | null;
  readonly outcomeAt: Date | null;
  readonly reason: string | null;
  readonly replyCode: number | null;
  readonly reply: string | null;
  readonly headerMessageId: string | null;
  readonly expiresAt: Date;
}

export interface ClaimResult {
  readonly claimed: ClaimedMessage[];
  readonly suppressed: WorkRef[];
  readonly expired: Array<WorkRef & { expiresAt: Date }>;
  /** No room in the account's limits now: back to `retry_wait`, no attempt used. */
  readonly deferred: Array<WorkRef & { nextAttemptAt: Date }>;
  readonly settled: SettledMessage[];
  /** Superseded, unknown or claimed already: ack and move on. */
  readonly skipped: string[];
  /** Their recipients could not be checked against the suppression list: give the items back. */
  readonly recheck: string[];
  /** Taken just before the suppression list was read (invariant 1 is judged by it). */
  readonly suppressionReadAt: Date;
}

export interface ClaimInput {
  readonly accountId: string;
  readonly epoch: number;
  readonly items: readonly WorkRef[];
  readonly dailyLimit: number;
  readonly now: Date;
  /** When a claim finds no room, the earliest time to look again. */
  readonly deferFor?: number;
  readonly clock?: () => Date;
}

/**
 * One statement: epoch, suppression, quota, ledger (`ledger_claim`, migrations/0015). The
 * rows are read first, unlocked, only to hash their recipients with the address normaliser;
 * the claim checks each recipient against its locked row before trusting the hash, and reads
 * everything that decides after taking its locks.
 */
export async function claimBatch(db: Database, input: ClaimInput): Promise<ClaimResult> {
  const { accountId, epoch, items, now } = input;
  const clock = input.clock ?? (() => new Date());
  const ids = items.map((i) => i.messageId);
  const recipients = new Map(
    (await db.query(sql`SELECT message_id, recipient FROM deliveries WHERE message_id = ANY(${ids}::text[])`)).map((r) => [r.message_id as string, r.recipient as string]),
  );
  const calls = items.map((item, idx) => {
    const recipient = recipients.get(item.messageId);
    return {
      idx,
      message: item.messageId,
      assignment: item.assignment,
      attempt: item.attempt,
      recipient: recipient ?? null,
      hash: recipient === undefined ? null : addressHash(recipient).toString('hex'),
    };
  });
  const nextAttemptAt = new Date(now.getTime() + (input.deferFor ?? 60_000));
  // Taken before the statement that reads the suppression list is sent, so never later than
  // the read itself: invariant 1, judged by it, is judged no more leniently than before.
  const suppressionReadAt = clock();
  const rows = await db.query(sql`
    SELECT * FROM ledger_claim(${accountId}, ${epoch}, ${JSON.stringify(calls)}::jsonb, ${input.dailyLimit}::integer,
                               ${now}::timestamptz, ${nextAttemptAt}::timestamptz)`);
  const stale = rows.find((r) => r.verdict === 'stale');
  if (stale) throw new StaleEpochError(accountId, epoch, stale.current_epoch ?? undefined);
  const claimed: ClaimedMessage[] = [];
  const suppressed: WorkRef[] = [];
  const expired: Array<WorkRef & { expiresAt: Date }> = [];
  const deferred: Array<WorkRef & { nextAttemptAt: Date }> = [];
  const settled: SettledMessage[] = [];
  const skipped: string[] = [];
  const recheck: string[] = [];
  for (const r of rows) {
    const verdict = r.verdict as ClaimVerdict;
    if (verdict === 'claimed') {
      claimed.push({
        messageId: r.message_id,
        assignment: r.assignment,
        attempt: r.attempt,
        kind: r.kind,
        campaignId: r.campaign_id,
        recipient: r.recipient,
        content: r.content,
        sendFailures: r.send_failures,
      });
    } else if (verdict === 'suppressed') suppressed.push(ref(r));
    else if (verdict === 'expired') expired.push({ ...ref(r), expiresAt: r.expires_at });
    else if (verdict === 'deferred') deferred.push({ ...ref(r), nextAttemptAt });
    else if (verdict === 'settled') settled.push(toSettled(r));
    else if (verdict === 'skipped') skipped.push(r.message_id);
    else if (verdict === 'recheck') recheck.push(r.message_id);
    else throw new Error(`ledger_claim gave an unknown verdict: ${String(r.verdict)}`);
  }
  return { claimed, suppressed, expired, deferred, settled, skipped, recheck, suppressionReadAt };
}

type ClaimVerdict = 'claimed' | 'suppressed' | 'expired' | 'deferred' | 'settled' | 'skipped' | 'recheck';

/** Serialises the account's claims with its epoch bumps, and refuses a stale epoch. */
async function lockEpoch(tx: Transaction, accountId: string, epoch: number): Promise<number> {
  const [row] = await tx.query(sql`SELECT epoch FROM account_epochs WHERE account_id = ${accountId} FOR UPDATE`);
  if (!row || Number(row.epoch) !== epoch) throw new StaleEpochError(accountId, epoch, row?.epoch);
  return epoch;
}

async function countSent(tx: Transaction, accountId: string, n: number, at: Date): Promise<void> {
  if (n <= 0) return;
  await tx.query(sql`
    INSERT INTO quota_usage (account_id, minute, sent) VALUES (${accountId}, date_trunc('minute', ${at}::timestamptz), ${n})
    ON CONFLICT (account_id, minute) DO UPDATE SET sent = quota_usage.sent + EXCLUDED.sent`);
}

function ref(r: Record<string, any>): WorkRef {
  return { messageId: r.message_id, assignment: r.assignment, attempt: r.attempt };
}

function toSettled(r: Record<string, any>): SettledMessage {
  return {
    messageId: r.message_id,
    state: r.state,
    assignment: r.assignment,
    attempt: r.attempt,
    sendingAt: r.sending_at,
    outcomeAt: r.outcome_at,
    reason: r.reason,
    replyCode: r.reply_code,
    reply: r.reply,
    headerMessageId: r.header_message_id,
    expiresAt: r.expires_at,
  };
}
