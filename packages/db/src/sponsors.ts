import { sql, type Queryable } from '@databases/pg';

/**
 * Queries over the sponsor tables (migration 0008) shared by the admin API and the sponsor
 * gateway. Nothing here sees a plaintext API key or signing secret: keys arrive as their
 * prefix and hash, secrets stay in `secrets`, leads arrive and leave encrypted.
 */
export interface SponsorKeyRow {
  readonly id: string;
  readonly sponsorId: string;
  readonly keyHash: Buffer;
  readonly revoked: boolean;
}

export interface OfferRow {
  readonly id: string;
  readonly sponsorId: string;
  readonly name: string;
  readonly landingUrl: string;
  readonly active: boolean;
}

export async function findSponsorKey(db: Queryable, prefix: string): Promise<SponsorKeyRow | undefined> {
  const [r] = await db.query(sql`SELECT id, sponsor_id, key_hash, revoked_at FROM sponsor_api_keys WHERE prefix = ${prefix}`);
  return r ? { id: r.id, sponsorId: r.sponsor_id, keyHash: r.key_hash as Buffer, revoked: r.revoked_at !== null } : undefined;
}

/** When a key was last used, to the minute (one write a minute per key at most). */
export async function touchSponsorKey(db: Queryable, keyId: string, now: Date): Promise<void> {
  await db.query(sql`UPDATE sponsor_api_keys SET last_used_at = ${now}
                     WHERE id = ${keyId} AND (last_used_at IS NULL OR last_used_at < ${new Date(now.getTime() - 60_000)})`);
}

const toOffer = (r: Record<string, unknown>): OfferRow => ({
  id: r['id'] as string,
  sponsorId: r['sponsor_id'] as string,
  name: r['name'] as string,
  landingUrl: r['landing_url'] as string,
  active: r['active'] as boolean,
});

export async function getOffer(db: Queryable, offerId: string): Promise<OfferRow | undefined> {
  const [r] = await db.query(sql`SELECT id, sponsor_id, name, landing_url, active FROM sponsor_offers WHERE id = ${offerId}`);
  return r ? toOffer(r) : undefined;
}

export async function activeOffers(db: Queryable, sponsorId: string, limit = 500): Promise<OfferRow[]> {
  const rows = await db.query(sql`
    SELECT id, sponsor_id, name, landing_url, active FROM sponsor_offers
    WHERE sponsor_id = ${sponsorId} AND active ORDER BY created_at DESC, id DESC LIMIT ${limit}`);
  return rows.map(toOffer);
}

export interface NewLead {
  readonly id: string;
  readonly sponsorId: string;
  readonly offerId: string;
  readonly scope: string;
  readonly idempotencyKey: string;
  readonly requestHash: string;
  /** The lead, already encrypted. */
  readonly payload: string;
  readonly receivedAt: Date;
}

export type LeadInsert =
  | { readonly kind: 'new' }
  | { readonly kind: 'replay'; readonly id: string; readonly receivedAt: Date }
  | { readonly kind: 'conflict' };

/** One lead per (scope, idempotency key): the same key again with the same body is a replay, with another a conflict. */
export async function insertLead(db: Queryable, lead: NewLead): Promise<LeadInsert> {
  const inserted = await db.query(sql`
    INSERT INTO sponsor_leads (id, sponsor_id, offer_id, scope, idempotency_key, request_hash, payload, received_at, next_attempt_at)
    VALUES (${lead.id}, ${lead.sponsorId}, ${lead.offerId}, ${lead.scope}, ${lead.idempotencyKey}, ${lead.requestHash}, ${lead.payload}, ${lead.receivedAt}, ${lead.receivedAt})
    ON CONFLICT (scope, idempotency_key) DO NOTHING RETURNING id`);
  if (inserted.length === 1) return { kind: 'new' };
  const [r] = await db.query(sql`SELECT id, request_hash, received_at FROM sponsor_leads WHERE scope = ${lead.scope} AND idempotency_key = ${lead.idempotencyKey}`);
  if (!r || r.request_hash !== lead.requestHash) return { kind: 'conflict' };
  return { kind: 'replay', id: r.id, receivedAt: r.received_at as Date };
}

export interface DueLead {
  readonly id: string;
  readonly sponsorId: string;
  readonly offerId: string;
  /** After this claim (the first attempt is 1). */
  readonly attempts: number;
  readonly payload: string;
  readonly endpointUrl: string | null;
  readonly signingSecretId: string;
}

/**
 * Takes up to `limit` leads whose attempt is due and leases them for `leaseMs` (their next
 * attempt is pushed past the lease), so several forwarders never send one lead at once and a
 * forwarder that dies mid-attempt leaves the lead due again after the lease.
 */
export async function claimDueLeads(db: Queryable, now: Date, leaseMs: number, limit: number): Promise<DueLead[]> {
  const rows = await db.query(sql`
    WITH due AS (
      SELECT id FROM sponsor_leads WHERE state = 'pending' AND next_attempt_at <= ${now}
      ORDER BY next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    UPDATE sponsor_leads l SET attempts = l.attempts + 1, next_attempt_at = ${new Date(now.getTime() + leaseMs)}
    FROM due, sponsors s WHERE l.id = due.id AND s.id = l.sponsor_id
    RETURNING l.id, l.sponsor_id, l.offer_id, l.attempts, l.payload, s.endpoint_url, s.signing_secret_id`);
  return rows.map((r) => ({
    id: r.id,
    sponsorId: r.sponsor_id,
    offerId: r.offer_id,
    attempts: r.attempts,
    payload: r.payload,
    endpointUrl: r.endpoint_url,
    signingSecretId: r.signing_secret_id,
  }));
}

/** The sponsor has it: the encrypted lead is dropped. */
export async function markLeadForwarded(db: Queryable, id: string, now: Date): Promise<void> {
  await db.query(sql`UPDATE sponsor_leads SET state = 'forwarded', forwarded_at = ${now}, payload = NULL, last_error = NULL WHERE id = ${id}`);
}

export async function scheduleLeadRetry(db: Queryable, id: string, at: Date, error: string): Promise<void> {
  await db.query(sql`UPDATE sponsor_leads SET next_attempt_at = ${at}, last_error = ${error.slice(0, 200)} WHERE id = ${id} AND state = 'pending'`);
}

/** Given up: the lead stays (encrypted) for an operator to look at and retry. */
export async function markLeadFailed(db: Queryable, id: string, error: string): Promise<void> {
  await db.query(sql`UPDATE sponsor_leads SET state = 'failed', last_error = ${error.slice(0, 200)} WHERE id = ${id}`);
}
