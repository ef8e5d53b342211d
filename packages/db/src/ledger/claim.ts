import { sql, type Transaction } from '@databases/pg';
import { PostbusError, addressHash } from '@postbus/contracts';
import type { Database } from '../connect.js';
import { roomOf, type ClaimedMessage, type DeliveryState } from './types.js';
import { usageColumns } from './usage.js';

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

/** One transaction: epoch, suppression, quota, ledger. */
export async function claimBatch(db: Database, input: ClaimInput): Promise<ClaimResult> {
  const { accountId, epoch, items, now } = input;
  const clock = input.clock ?? (() => new Date());
  return db.tx(async (tx) => {
    await lockEpoch(tx, accountId, epoch);
    const rows = await tx.query(sql`
      SELECT message_id, state, account_id, assignment, attempt, claim_epoch, kind, campaign_id, recipient,
             send_failures, expires_at, sending_at, outcome_at, reason, reply_code, reply, header_message_id
      FROM deliveries WHERE message_id = ANY(${items.map((i) => i.messageId)}::text[]) FOR UPDATE`);
    const byId = new Map(rows.map((r) => [r.message_id as string, r]));
    const candidates: Record<string, any>[] = [];
    const settled: SettledMessage[] = [];
    const skipped: string[] = [];
    const expired: Array<WorkRef & { expiresAt: Date }> = [];
    for (const item of items) {
      const r = byId.get(item.messageId);
      if (!r || r.account_id !== accountId) {
        skipped.push(item.messageId);
      } else if (['sent', 'failed', 'suppressed', 'uncertain', 'expired', 'cancelled'].includes(r.state)) {
        settled.push(toSettled(r));
      } else if (r.state !== 'assigned' || r.assignment !== item.assignment || r.attempt !== item.attempt) {
        skipped.push(item.messageId);
      } else if (r.expires_at.getTime() <= now.getTime()) {
        expired.push({ ...ref(r), expiresAt: r.expires_at });
      } else if (!candidates.includes(r)) {
        candidates.push(r);
      }
    }
    // One read for the suppression list and the account's usage (invariant 1 is judged by the
    // time taken just before it).
    const suppressionReadAt = clock();
    const [read] = candidates.length
      ? await tx.query(sql`
          SELECT ARRAY(SELECT encode(address_hash, 'hex') FROM suppressions
                        WHERE address_hash = ANY(${candidates.map((c) => addressHash(c.recipient))}::bytea[])) AS suppressed,
                 ${usageColumns(sql`${accountId}`, now)}`)
      : [{ suppressed: [] }];
    const suppressedHashes = new Set<string>(read!.suppressed as string[]);
    const allowed: Record<string, any>[] = [];
    const suppressed: WorkRef[] = [];
    for (const c of candidates) {
      if (suppressedHashes.has(addressHash(c.recipient).toString('hex'))) suppressed.push(ref(c));
      else allowed.push(c);
    }
    const room = allowed.length ? roomOf({ sentToday: read!.sent_today, sentRolling24h: read!.sent_rolling, inFlight: read!.in_flight }, input.dailyLimit) : 0;
    const toClaim = allowed.slice(0, Math.max(0, room));
    const nextAttemptAt = new Date(now.getTime() + (input.deferFor ?? 60_000));
    const deferred = allowed.slice(toClaim.length).map((c) => ({ ...ref(c), nextAttemptAt }));
    // Claimed, and what to compose them from, in one statement.
    const contents = toClaim.length
      ? new Map(
          (
            await tx.query(sql`
              WITH claimed AS (
                UPDATE deliveries SET state = 'claimed', claim_epoch = ${epoch}, claimed_at = ${now}, updated_at = now()
                WHERE message_id = ANY(${toClaim.map((c) => c.message_id)}::text[]) RETURNING message_id)
              SELECT c.message_id, c.content FROM delivery_contents c JOIN claimed USING (message_id)`)
          ).map((r) => [r.message_id as string, r.content as ClaimedMessage['content']]),
        )
      : new Map<string, ClaimedMessage['content']>();
    await setStates(tx, suppressed.map((s) => s.messageId), sql`state = 'suppressed', outcome_at = ${now}, reason = 'suppressed'`);
    await setStates(tx, expired.map((s) => s.messageId), sql`state = 'expired', outcome_at = ${now}, reason = 'expired'`);
    await setStates(tx, deferred.map((s) => s.messageId), sql`state = 'retry_wait', next_attempt_at = ${nextAttemptAt}, reason = 'limit_reached'`);
    return {
      claimed: toClaim.map((c) => ({
        messageId: c.message_id,
        assignment: c.assignment,
        attempt: c.attempt,
        kind: c.kind,
        campaignId: c.campaign_id,
        recipient: c.recipient,
        content: contents.get(c.message_id)!,
        sendFailures: c.send_failures,
      })),
      suppressed,
      expired,
      deferred,
      settled,
      skipped,
      suppressionReadAt,
    };
  });
}

async function setStates(tx: Transaction, ids: readonly string[], set: ReturnType<typeof sql>): Promise<void> {
  if (ids.length === 0) return;
  await tx.query(sql`UPDATE deliveries SET ${set}, updated_at = now() WHERE message_id = ANY(${ids}::text[])`);
}

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
