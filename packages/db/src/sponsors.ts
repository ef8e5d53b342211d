import { sql, type Queryable } from '@databases/pg';
import { rotateRows, type RotationOptions, type RotationSummary } from './secret-rotation.js';
import type { SecretCipher } from './secret-store.js';

/**
 * Queries over the sponsor tables (migration 0008) shared by the admin API and the sponsor
 * gateway. Nothing here sees a plaintext API key or signing secret: keys arrive as their
 * prefix and hash, secrets stay in `secrets`, leads arrive and leave encrypted.
 */
/** The AAD of a lead's encrypted payload: a ciphertext copied to another lead does not decrypt. */
export const leadPayloadAad = (leadId: string): string => `postbus:lead:${leadId}`;

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
  /** After this claim (the first attempt is 1), over every round: event ids derive from it. */
  readonly attempts: number;
  /** Attempts in this round (an operator's retry starts a new one): what the retry limit and backoff count. */
  readonly roundAttempts: number;
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
    RETURNING l.id, l.sponsor_id, l.offer_id, l.attempts, l.round_start_attempts, l.payload, s.endpoint_url, s.signing_secret_id`);
  return rows.map((r) => ({
    id: r.id,
    sponsorId: r.sponsor_id,
    offerId: r.offer_id,
    attempts: r.attempts,
    roundAttempts: r.attempts - r.round_start_attempts,
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

/** Given up: the lead stays (encrypted) for an operator to look at and retry (retryFailedLead). */
export async function markLeadFailed(db: Queryable, id: string, error: string): Promise<void> {
  await db.query(sql`UPDATE sponsor_leads SET state = 'failed', last_error = ${error.slice(0, 200)} WHERE id = ${id}`);
}

/**
 * Re-encrypts the payload of every lead still holding one (pending, or failed and kept for a
 * retry) that is not under the cipher's current key — the same pass as rotateSecrets: batches
 * by id, each row rewritten only if its payload is still the one read (a forwarder that
 * delivered it meanwhile has dropped it, and wins). The key id is the ciphertext's second field
 * (`v1.<keyId>.…`, packages/secrets), so the rows to do are found in SQL.
 */
export function rotateLeadPayloads(db: Queryable, cipher: SecretCipher, opts: RotationOptions = {}): Promise<RotationSummary> {
  const keyOf = (payload: string) => payload.split('.')[1] ?? '';
  return rotateRows(
    {
      count: async (target) =>
        ((await db.query(sql`SELECT count(*)::int AS n FROM sponsor_leads WHERE payload IS NOT NULL AND split_part(payload, '.', 2) <> ${target}`))[0]?.n as number) ?? 0,
      page: async (target, after, limit) =>
        (
          await db.query(sql`
            SELECT id, payload FROM sponsor_leads
            WHERE payload IS NOT NULL AND split_part(payload, '.', 2) <> ${target} AND id > ${after} ORDER BY id LIMIT ${limit}`)
        ).map((r) => ({ id: r.id as string, keyId: keyOf(r.payload as string), ciphertext: r.payload as string, aad: leadPayloadAad(r.id) })),
      write: async (id, previous, next) => (await db.query(sql`UPDATE sponsor_leads SET payload = ${next} WHERE id = ${id} AND payload = ${previous} RETURNING id`)).length === 1,
    },
    cipher,
    opts,
  );
}

/** How many lead payloads each key encrypts now. */
export async function leadPayloadsByKey(db: Queryable): Promise<Record<string, number>> {
  const rows = await db.query(sql`
    SELECT split_part(payload, '.', 2) AS key_id, count(*)::int AS n FROM sponsor_leads WHERE payload IS NOT NULL GROUP BY 1 ORDER BY 1`);
  return Object.fromEntries(rows.map((r) => [r.key_id as string, r.n as number]));
}

/** A lead as the admin API shows it: never its payload (the address, the consent text). */
export interface LeadStatusRow {
  readonly id: string;
  readonly sponsorId: string;
  readonly offerId: string;
  readonly state: 'pending' | 'forwarded' | 'failed';
  readonly attempts: number;
  readonly lastError: string | null;
  readonly receivedAt: Date;
  readonly nextAttemptAt: Date;
  /** received_at to the microsecond (UTC, ISO): the page cursor. */
  readonly receivedAtExact: string;
}

const LEAD_STATUS = sql`id, sponsor_id, offer_id, state, attempts, last_error, received_at, next_attempt_at,
  to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS received_exact`;

const toLeadStatus = (r: Record<string, any>): LeadStatusRow => ({
  id: r.id,
  sponsorId: r.sponsor_id,
  offerId: r.offer_id,
  state: r.state,
  attempts: r.attempts,
  lastError: r.last_error,
  receivedAt: r.received_at,
  nextAttemptAt: r.next_attempt_at,
  receivedAtExact: r.received_exact,
});

/** Leads whose forwarding was given up, newest first; `before` continues after a page's last (its exact time and id). */
export async function listFailedLeads(
  db: Queryable,
  q: { readonly sponsorId?: string; readonly before?: { readonly receivedAt: string; readonly id: string }; readonly limit: number },
): Promise<LeadStatusRow[]> {
  const where = [sql`state = 'failed'`];
  if (q.sponsorId !== undefined) where.push(sql`sponsor_id = ${q.sponsorId}`);
  if (q.before !== undefined) where.push(sql`(received_at, id) < (${q.before.receivedAt}::timestamptz, ${q.before.id})`);
  const rows = await db.query(sql`SELECT ${LEAD_STATUS} FROM sponsor_leads WHERE ${sql.join(where, ' AND ')} ORDER BY received_at DESC, id DESC LIMIT ${q.limit}`);
  return rows.map(toLeadStatus);
}

export type LeadRetry =
  | { readonly kind: 'retrying'; readonly lead: LeadStatusRow }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'not_failed'; readonly state: LeadStatusRow['state'] };

/**
 * Puts a failed lead back in the forwarder's outbox, due now, with a fresh round of attempts
 * (`attempts` keeps counting: the next LeadForwardingFailed, if any, is a new event). Only a
 * failed lead that still holds its payload can go again.
 */
export async function retryFailedLead(db: Queryable, id: string, now: Date): Promise<LeadRetry> {
  const [r] = await db.query(sql`
    UPDATE sponsor_leads SET state = 'pending', next_attempt_at = ${now}, round_start_attempts = attempts
    WHERE id = ${id} AND state = 'failed' AND payload IS NOT NULL RETURNING ${LEAD_STATUS}`);
  if (r) return { kind: 'retrying', lead: toLeadStatus(r) };
  const [found] = await db.query(sql`SELECT state FROM sponsor_leads WHERE id = ${id}`);
  return found ? { kind: 'not_failed', state: found.state } : { kind: 'not_found' };
}
