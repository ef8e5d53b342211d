import { sql, type Queryable, type Transaction } from '@databases/pg';
import { PostbusError, type MessageKind } from '@postbus/contracts';
import type { Database } from './connect.js';

/**
 * Where accounts are worked and who leads. Times that decide safety (lease expiry, a new
 * owner's start) are the database's clock, the one clock every machine shares.
 */

export class NotLeaderError extends PostbusError {
  constructor(holder: string, epoch: number) {
    super('not_leader', `${holder} no longer leads under epoch ${epoch}`, { scope: 'platform', retryable: false, status: 409 });
  }
}

export interface Leadership {
  readonly holder: string;
  readonly epoch: number;
}

/** Takes the lead if no one holds an unexpired lease (or we already do): a new epoch each time it is taken. */
export async function acquireLeadership(db: Queryable, holder: string, ttlMs: number): Promise<Leadership | null> {
  const [row] = await db.query(sql`
    UPDATE leader_lease SET holder = ${holder}, epoch = epoch + 1, expires_at = now() + ${ttlMs} * interval '1 millisecond'
    WHERE id = 1 AND (expires_at < now() OR holder IS NULL)
    RETURNING epoch`);
  return row ? { holder, epoch: Number(row.epoch) } : null;
}

/** Extends the lease; false when another has taken it (or it ran out and was taken). */
export async function renewLeadership(db: Queryable, lead: Leadership, ttlMs: number): Promise<boolean> {
  const rows = await db.query(sql`
    UPDATE leader_lease SET expires_at = now() + ${ttlMs} * interval '1 millisecond'
    WHERE id = 1 AND holder = ${lead.holder} AND epoch = ${lead.epoch} AND expires_at > now()
    RETURNING epoch`);
  return rows.length === 1;
}

export async function resignLeadership(db: Queryable, lead: Leadership): Promise<void> {
  await db.query(sql`UPDATE leader_lease SET holder = NULL, expires_at = '-infinity' WHERE id = 1 AND holder = ${lead.holder} AND epoch = ${lead.epoch}`);
}

/**
 * Fences a leader's transaction: refuses unless this leader still holds an unexpired lease,
 * and holds the row so that a takeover waits for this transaction to end.
 */
export async function assertLeader(tx: Transaction, lead: Leadership): Promise<void> {
  const [row] = await tx.query(sql`
    SELECT 1 AS ok FROM leader_lease WHERE id = 1 AND holder = ${lead.holder} AND epoch = ${lead.epoch} AND expires_at > now() FOR SHARE`);
  if (!row) throw new NotLeaderError(lead.holder, lead.epoch);
}

export async function currentLeader(db: Queryable): Promise<{ holder: string | null; epoch: number; expiresAt: Date; live: boolean }> {
  const [row] = await db.query(sql`SELECT holder, epoch, expires_at, expires_at > now() AS live FROM leader_lease WHERE id = 1`);
  return { holder: row?.holder ?? null, epoch: Number(row?.epoch ?? 0), expiresAt: row?.expires_at, live: Boolean(row?.live) };
}

export interface AssignmentRow {
  readonly accountId: string;
  readonly nodeId: string | null;
  readonly epoch: number;
  readonly leaderEpoch: number;
  readonly reason: string;
  readonly prevNodeId: string | null;
  readonly prevEpoch: number | null;
  readonly prevReleased: boolean;
  readonly startAfter: Date;
  readonly assignedAt: Date;
}

function toAssignment(r: Record<string, any>): AssignmentRow {
  return {
    accountId: r.account_id,
    nodeId: r.node_id,
    epoch: Number(r.epoch),
    leaderEpoch: Number(r.leader_epoch),
    reason: r.reason,
    prevNodeId: r.prev_node_id,
    prevEpoch: r.prev_epoch === null ? null : Number(r.prev_epoch),
    prevReleased: r.prev_released,
    startAfter: r.start_after,
    assignedAt: r.assigned_at,
  };
}

export async function readAssignments(db: Queryable, accountIds?: readonly string[]): Promise<Map<string, AssignmentRow>> {
  const rows = accountIds
    ? await db.query(sql`SELECT * FROM account_assignments WHERE account_id = ANY(${accountIds}::text[])`)
    : await db.query(sql`SELECT * FROM account_assignments`);
  return new Map(rows.map((r) => [r.account_id as string, toAssignment(r)]));
}

export interface Placement {
  readonly accountId: string;
  /** The new owner, or null: no one works the account (it is stopped). */
  readonly nodeId: string | null;
  readonly reason: string;
  /** The previous owner's lease is gone: it cannot be asked to release, so wait out the grace instead. */
  readonly prevNodeDead: boolean;
}

/**
 * Moves accounts (a leader's transaction): bumps each account's epoch — from this commit on,
 * the previous owner's claims and `sending` marks are refused — and records the new owner.
 * A live previous owner must release the account before the new one starts; a dead one's
 * lease has expired, and the new owner waits `graceMs` more for transactions that started
 * just before its deadline to end.
 */
export async function placeAccounts(tx: Transaction, lead: Leadership, placements: readonly Placement[], graceMs: number): Promise<AssignmentRow[]> {
  if (placements.length === 0) return [];
  await assertLeader(tx, lead);
  const ids = placements.map((p) => p.accountId);
  const bumped = await tx.query(sql`
    INSERT INTO account_epochs (account_id, epoch)
    SELECT unnest(${ids}::text[]), 1
    ON CONFLICT (account_id) DO UPDATE SET epoch = account_epochs.epoch + 1, updated_at = now()
    RETURNING account_id, epoch`);
  const epochOf = new Map(bumped.map((r) => [r.account_id as string, Number(r.epoch)]));
  const rows = await tx.query(sql`
    INSERT INTO account_assignments AS a (account_id, node_id, epoch, leader_epoch, reason, prev_node_id, prev_epoch, prev_released, start_after, assigned_at)
    SELECT p.account_id, p.node_id, p.epoch, ${lead.epoch}, p.reason, NULL, NULL, true, '-infinity', now()
    FROM unnest(${ids}::text[], ${placements.map((p) => p.nodeId)}::text[], ${ids.map((id) => epochOf.get(id)!)}::bigint[],
                ${placements.map((p) => p.reason)}::text[], ${placements.map((p) => p.prevNodeDead)}::boolean[])
         AS p(account_id, node_id, epoch, reason, prev_dead)
    ON CONFLICT (account_id) DO UPDATE SET
      node_id = EXCLUDED.node_id,
      epoch = EXCLUDED.epoch,
      leader_epoch = EXCLUDED.leader_epoch,
      reason = EXCLUDED.reason,
      -- The owner being replaced: a worker that never released becomes the one to wait for.
      prev_node_id = CASE WHEN a.node_id IS NOT NULL THEN a.node_id ELSE a.prev_node_id END,
      prev_epoch = CASE WHEN a.node_id IS NOT NULL THEN a.epoch ELSE a.prev_epoch END,
      prev_released = CASE WHEN a.node_id IS NOT NULL THEN false ELSE a.prev_released END,
      start_after = a.start_after,
      assigned_at = now()
    RETURNING *`);
  // A dead previous owner cannot release: its lease ran out, so only the grace is left to wait.
  const dead = placements.filter((p) => p.prevNodeDead).map((p) => p.accountId);
  if (dead.length) await releaseDeadOwners(tx, dead, graceMs);
  return rows.map(toAssignment);
}

/** The previous owners of these accounts are dead: released, and the new owner waits `graceMs`. */
async function releaseDeadOwners(tx: Queryable, accountIds: readonly string[], graceMs: number): Promise<void> {
  await tx.query(sql`
    UPDATE account_assignments SET prev_released = true,
           start_after = greatest(start_after, now() + ${graceMs} * interval '1 millisecond')
    WHERE account_id = ANY(${accountIds}::text[]) AND NOT prev_released`);
}

/** Accounts still waiting for a previous owner whose lease has since expired: stop waiting for it. */
export async function releaseDeadNodes(tx: Transaction, lead: Leadership, liveNodes: readonly string[], graceMs: number): Promise<number> {
  await assertLeader(tx, lead);
  const rows = await tx.query(sql`
    UPDATE account_assignments SET prev_released = true,
           start_after = greatest(start_after, now() + ${graceMs} * interval '1 millisecond')
    WHERE NOT prev_released AND NOT (prev_node_id = ANY(${liveNodes}::text[]))
    RETURNING account_id`);
  return rows.length;
}

export interface NodeWork {
  readonly accountId: string;
  /** Set when this node owns the account; null when it only has to release an older epoch. */
  readonly epoch: number | null;
  /** The owner may start: the previous owner released and the grace has passed. */
  readonly ready: boolean;
  /** An epoch this node held and must release once its worker has stopped. */
  readonly releaseEpoch: number | null;
  /** Released but waiting out the grace: it may start in this many milliseconds. */
  readonly startInMs: number | null;
}

/** What a sender node should be doing: the accounts it owns, and older epochs it must release. */
export async function nodeWork(db: Queryable, nodeId: string): Promise<NodeWork[]> {
  const rows = await db.query(sql`
    SELECT account_id, node_id = ${nodeId} AS owner, epoch,
           (prev_released AND start_after <= now()) AS ready,
           CASE WHEN prev_node_id = ${nodeId} AND NOT prev_released THEN prev_epoch END AS release_epoch,
           CASE WHEN prev_released AND start_after > now() THEN ceil(extract(epoch FROM start_after - now()) * 1000)::int END AS start_in_ms
    FROM account_assignments
    WHERE node_id = ${nodeId} OR (prev_node_id = ${nodeId} AND NOT prev_released)`);
  return rows.map((r) => ({
    accountId: r.account_id,
    epoch: r.owner ? Number(r.epoch) : null,
    ready: Boolean(r.ready),
    releaseEpoch: r.release_epoch === null ? null : Number(r.release_epoch),
    startInMs: r.start_in_ms === null ? null : Number(r.start_in_ms),
  }));
}

/**
 * A node's worker of `epoch` has stopped (or never ran here): the next owner may start.
 * A node releasing its own earlier epoch to itself (a restarted worker) works the same way.
 */
export async function releaseEpochs(db: Queryable, nodeId: string, released: ReadonlyArray<{ accountId: string; epoch: number }>): Promise<void> {
  if (released.length === 0) return;
  await db.query(sql`
    UPDATE account_assignments a SET prev_released = true
    FROM unnest(${released.map((r) => r.accountId)}::text[], ${released.map((r) => r.epoch)}::bigint[]) AS r(account_id, epoch)
    WHERE a.account_id = r.account_id AND a.prev_epoch = r.epoch AND a.prev_node_id = ${nodeId} AND NOT a.prev_released`);
}

export async function recordWorkerRestart(db: Queryable, r: { accountId: string; nodeId: string; reason: string; at: Date }): Promise<void> {
  await db.query(sql`INSERT INTO worker_restarts (account_id, node_id, at, reason) VALUES (${r.accountId}, ${r.nodeId}, ${r.at}, ${r.reason.slice(0, 500)})`);
}

/** Restarts per account over the hour before `now`, for accounts that had any. */
export async function restartsInLastHour(db: Queryable, now: Date): Promise<Map<string, number>> {
  const rows = await db.query(sql`
    SELECT account_id, count(*)::int AS n FROM worker_restarts
    WHERE at > ${now}::timestamptz - interval '1 hour' AND at <= ${now}::timestamptz GROUP BY account_id`);
  return new Map(rows.map((r) => [r.account_id as string, r.n as number]));
}

export async function purgeWorkerRestarts(db: Database, now: Date): Promise<void> {
  await db.query(sql`DELETE FROM worker_restarts WHERE at < ${now}::timestamptz - interval '1 day'`);
}

/** A message taken off a stopped account, with what its `EmailWaiting` event carries. */
export interface UnassignedMessage {
  readonly messageId: string;
  readonly assignment: number;
  readonly waiting: { kind: MessageKind; to: string; subject: string; campaignId?: string; requestedAt: string };
}

/**
 * Queued mail of a stopped account handed back to the dispatcher (a person's decision): its
 * rows wait again, to be given to accounts with room under a new assignment. Mail pinned to
 * the account stays; `uncertain`, claimed or sending rows are never touched.
 */
export async function unassignQueued(tx: Transaction, accountId: string, now: Date): Promise<UnassignedMessage[]> {
  // A new epoch first: a worker that is somehow still running can claim none of it.
  await tx.query(sql`UPDATE account_epochs SET epoch = epoch + 1, updated_at = now() WHERE account_id = ${accountId}`);
  const rows = await tx.query(sql`
    UPDATE deliveries SET state = 'waiting', account_id = NULL, claim_epoch = NULL, next_attempt_at = NULL,
           reason = 'moved_by_admin', updated_at = ${now}
    WHERE account_id = ${accountId} AND state IN ('assigned', 'retry_wait') AND pinned_account_id IS NULL
    RETURNING message_id, assignment, kind, recipient, subject, campaign_id, requested_at`);
  return rows.map((r) => ({
    messageId: r.message_id,
    assignment: r.assignment,
    waiting: {
      kind: r.kind,
      to: r.recipient,
      subject: r.subject,
      ...(r.campaign_id ? { campaignId: r.campaign_id } : {}),
      requestedAt: (r.requested_at as Date).toISOString(),
    },
  }));
}
