import { sql, type Queryable, type Transaction } from '@databases/pg';
import type { Database } from './connect.js';

/**
 * Campaign recipients and the ledger's side of cancelling: the campaign's state is its
 * aggregate (camp.<id>); these are the rows it cannot hold, and the atomic ledger changes.
 */

export interface CampaignRecipientInput {
  readonly address: string;
  /** The normalised address: one message per address per campaign. */
  readonly addressKey: string;
  readonly toName?: string;
  readonly variables?: Readonly<Record<string, string>>;
}

export type ChunkResult =
  | { readonly kind: 'added' | 'replay'; readonly added: number; readonly duplicates: number }
  | { readonly kind: 'conflict' }
  | { readonly kind: 'not_editable' }
  | { readonly kind: 'not_found' };

export async function insertCampaign(db: Queryable, id: string): Promise<void> {
  await db.query(sql`INSERT INTO campaigns (id) VALUES (${id}) ON CONFLICT (id) DO NOTHING`);
}

/**
 * Adds one chunk of recipients, once: the campaign row is locked (a send waits for the
 * import, and an import after a send is refused), the chunk key recorded with a hash of
 * its body (the same key again answers what it answered; another body is a conflict).
 */
export async function addRecipientChunk(
  db: Database,
  campaignId: string,
  chunkKey: string,
  requestHash: string,
  recipients: readonly CampaignRecipientInput[],
  messageIdOf: (seq: number) => string,
): Promise<ChunkResult> {
  return db.tx(async (tx) => {
    const [c] = await tx.query(sql`SELECT active FROM campaigns WHERE id = ${campaignId} FOR UPDATE`);
    if (!c) return { kind: 'not_found' } as const;
    const [prior] = await tx.query(sql`SELECT request_hash, added, duplicates FROM campaign_chunks WHERE campaign_id = ${campaignId} AND chunk_key = ${chunkKey}`);
    if (prior) return prior.request_hash === requestHash ? { kind: 'replay', added: prior.added as number, duplicates: prior.duplicates as number } as const : { kind: 'conflict' } as const;
    if (c.active) return { kind: 'not_editable' } as const;
    const [m] = await tx.query(sql`SELECT coalesce(max(seq), 0)::int AS n FROM campaign_recipients WHERE campaign_id = ${campaignId}`);
    const first = (m?.n as number) + 1;
    const seqs = recipients.map((_, i) => first + i);
    const inserted = await tx.query(sql`
      INSERT INTO campaign_recipients (campaign_id, seq, address, address_key, to_name, variables, message_id)
      SELECT ${campaignId}, s, a, k, n, v::jsonb, mid
      FROM unnest(${seqs}::int[], ${recipients.map((r) => r.address)}::text[], ${recipients.map((r) => r.addressKey)}::text[],
                  ${recipients.map((r) => r.toName ?? null)}::text[],
                  ${recipients.map((r) => (r.variables ? JSON.stringify(r.variables) : null))}::text[],
                  ${seqs.map(messageIdOf)}::text[]) AS t(s, a, k, n, v, mid)
      ON CONFLICT (campaign_id, address_key) DO NOTHING
      RETURNING seq`);
    const added = inserted.length;
    const duplicates = recipients.length - added;
    await tx.query(sql`
      INSERT INTO campaign_chunks (campaign_id, chunk_key, request_hash, added, duplicates)
      VALUES (${campaignId}, ${chunkKey}, ${requestHash}, ${added}, ${duplicates})`);
    return { kind: 'added', added, duplicates } as const;
  });
}

/** Marks the campaign for the expansion (before its send is appended) or off it (once it ended). */
export async function setCampaignActive(db: Queryable, id: string, active: boolean): Promise<void> {
  await db.query(sql`UPDATE campaigns SET active = ${active}, updated_at = now() WHERE id = ${id}`);
}

export async function activeCampaigns(db: Queryable): Promise<string[]> {
  const rows = await db.query(sql`SELECT id FROM campaigns WHERE active ORDER BY id`);
  return rows.map((r) => r.id as string);
}

export async function listCampaignIds(db: Queryable, after: string | null, limit: number): Promise<string[]> {
  const rows = await db.query(sql`
    SELECT id FROM campaigns WHERE ${after === null ? sql`true` : sql`id < ${after}`} ORDER BY id DESC LIMIT ${limit}`);
  return rows.map((r) => r.id as string);
}

export interface PendingRecipient {
  readonly seq: number;
  readonly address: string;
  readonly toName: string | null;
  readonly variables: Record<string, string> | null;
  readonly messageId: string;
}

/** The next recipients not yet requested, locked for this transaction. */
export async function lockPendingRecipients(tx: Transaction, campaignId: string, limit: number): Promise<PendingRecipient[]> {
  if (limit <= 0) return [];
  const rows = await tx.query(sql`
    SELECT seq, address, to_name, variables, message_id FROM campaign_recipients
    WHERE campaign_id = ${campaignId} AND requested_at IS NULL ORDER BY seq LIMIT ${limit} FOR UPDATE SKIP LOCKED`);
  return rows.map((r) => ({ seq: r.seq, address: r.address, toName: r.to_name, variables: r.variables, messageId: r.message_id }));
}

export async function markRequested(tx: Transaction, campaignId: string, seqs: readonly number[], now: Date): Promise<void> {
  if (seqs.length === 0) return;
  await tx.query(sql`UPDATE campaign_recipients SET requested_at = ${now} WHERE campaign_id = ${campaignId} AND seq = ANY(${seqs}::int[])`);
}

export interface CampaignCounts {
  readonly recipients: number;
  readonly requested: number;
  /** Requested and not yet at an outcome in the ledger (or not in it yet). */
  readonly outstanding: number;
}

export async function campaignCounts(db: Queryable, campaignId: string): Promise<CampaignCounts> {
  const [r] = await db.query(sql`
    SELECT (SELECT count(*) FROM campaign_recipients WHERE campaign_id = ${campaignId})::int AS recipients,
           (SELECT count(*) FROM campaign_recipients WHERE campaign_id = ${campaignId} AND requested_at IS NOT NULL)::int AS requested,
           (SELECT count(*) FROM deliveries WHERE campaign_id = ${campaignId}
              AND state IN ('sent', 'failed', 'suppressed', 'uncertain', 'expired', 'cancelled'))::int AS settled`);
  const recipients = (r?.recipients as number) ?? 0;
  const requested = (r?.requested as number) ?? 0;
  return { recipients, requested, outstanding: Math.max(0, requested - ((r?.settled as number) ?? 0)) };
}

/** A ledger row cancelled: what its `EmailCancelled` carries. */
export interface CancelledRow {
  readonly messageId: string;
  readonly accountId: string | null;
  readonly campaignId: string | null;
  readonly assignment: number;
  readonly attempt: number;
}

const CANCELLABLE = sql`('waiting', 'assigned', 'retry_wait')`;

export type CancelResult =
  | { readonly kind: 'cancelled'; readonly row: CancelledRow }
  | { readonly kind: 'already'; readonly row: CancelledRow }
  | { readonly kind: 'refused'; readonly state: string }
  | { readonly kind: 'not_found' };

/**
 * Cancels one message not yet claimed: one UPDATE on its ledger row, which takes the row
 * lock the claim takes, so either the claim comes first (the row is `claimed`: refused) or
 * the cancel does (the claim finds `cancelled`, a final state, and skips the work item).
 * A message still only requested (no ledger row yet) gets a `cancelled` row from what the
 * read table knows of it; the dispatcher's insert then finds the row and publishes nothing.
 */
export async function cancelDelivery(db: Database, messageId: string, actor: string, now: Date): Promise<CancelResult> {
  return db.tx(async (tx) => {
    const [row] = await tx.query(sql`
      UPDATE deliveries SET state = 'cancelled', outcome_at = ${now}, reason = 'cancelled', next_attempt_at = NULL, updated_at = now()
      WHERE message_id = ${messageId} AND state IN ${CANCELLABLE}
      RETURNING message_id, account_id, campaign_id, assignment, attempt`);
    if (row) return { kind: 'cancelled', row: toCancelled(row) } as const;
    const [cur] = await tx.query(sql`SELECT state, message_id, account_id, campaign_id, assignment, attempt FROM deliveries WHERE message_id = ${messageId}`);
    if (cur?.state === 'cancelled') return { kind: 'already', row: toCancelled(cur) } as const;
    if (cur) return { kind: 'refused', state: cur.state as string } as const;
    const requested = await requestedOnly(tx, messageId);
    if (!requested) return { kind: 'not_found' } as const;
    const [ins] = await tx.query(sql`
      INSERT INTO deliveries (message_id, state, kind, campaign_id, recipient, subject, requested_at, requested_by, expires_at, outcome_at, reason)
      VALUES (${messageId}, 'cancelled', ${requested.kind}, ${requested.campaign_id}, ${requested.recipient}, ${requested.subject},
              ${requested.requested_at}, ${actor}, ${now}, ${now}, 'cancelled')
      ON CONFLICT (message_id) DO NOTHING
      RETURNING message_id, account_id, campaign_id, assignment, attempt`);
    // Lost the race with the dispatcher: the caller may try again.
    return ins ? ({ kind: 'cancelled', row: toCancelled(ins) } as const) : ({ kind: 'refused', state: 'requested' } as const);
  });
}

/** The `email_queue` row of a message the ledger does not have yet (none when the projection is not there). */
async function requestedOnly(tx: Transaction, messageId: string): Promise<Record<string, any> | undefined> {
  try {
    await tx.query(sql`SAVEPOINT requested_only`);
    const [r] = await tx.query(sql`
      SELECT kind, recipient, subject, campaign_id, requested_at FROM email_queue
      WHERE message_id = ${messageId} AND status = 'requested' AND kind IS NOT NULL AND recipient IS NOT NULL`);
    await tx.query(sql`RELEASE SAVEPOINT requested_only`);
    return r;
  } catch (err) {
    if ((err as { code?: unknown }).code !== '42P01') throw err;
    await tx.query(sql`ROLLBACK TO SAVEPOINT requested_only`);
    return undefined;
  }
}

/**
 * Cancels every not-yet-claimed message of a campaign, atomically per statement: rows in
 * the ledger that are waiting, assigned or waiting for a retry, and requested recipients
 * the dispatcher has not written yet (they get a `cancelled` row first, so their request,
 * when it arrives, leads nowhere). Claimed and sending messages finish.
 */
export async function cancelCampaignDeliveries(
  db: Database,
  campaign: { readonly id: string; readonly kind: string; readonly subject: string },
  actor: string,
  now: Date,
): Promise<CancelledRow[]> {
  return db.tx(async (tx) => {
    // Waits for an expansion pass in progress (it holds its recipients locked until its
    // requests are published and marked), so its requests are among those cancelled below.
    await tx.query(sql`SELECT seq FROM campaign_recipients WHERE campaign_id = ${campaign.id} AND requested_at IS NULL FOR UPDATE`);
    const early = await tx.query(sql`
      INSERT INTO deliveries (message_id, state, kind, campaign_id, recipient, subject, requested_at, requested_by, expires_at, outcome_at, reason)
      SELECT r.message_id, 'cancelled', ${campaign.kind}, ${campaign.id}, r.address, ${campaign.subject}, r.requested_at, ${actor}, ${now}, ${now}, 'cancelled'
      FROM campaign_recipients r
      WHERE r.campaign_id = ${campaign.id} AND r.requested_at IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = r.message_id)
      ON CONFLICT (message_id) DO NOTHING
      RETURNING message_id, account_id, campaign_id, assignment, attempt`);
    const rows = await tx.query(sql`
      UPDATE deliveries SET state = 'cancelled', outcome_at = ${now}, reason = 'cancelled', next_attempt_at = NULL, updated_at = now()
      WHERE campaign_id = ${campaign.id} AND state IN ${CANCELLABLE}
      RETURNING message_id, account_id, campaign_id, assignment, attempt`);
    return [...early, ...rows].map(toCancelled);
  });
}

function toCancelled(r: Record<string, any>): CancelledRow {
  return { messageId: r.message_id, accountId: r.account_id, campaignId: r.campaign_id, assignment: r.assignment, attempt: r.attempt };
}
