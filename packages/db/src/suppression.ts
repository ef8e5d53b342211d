import { sql, type Queryable } from '@databases/pg';
import { addressHash, normaliseAddress } from '@postbus/contracts';

/** The suppression list: keyed by the hash of the normalised address (one normaliser for every service). */
export async function addSuppression(db: Queryable, address: string, reason: string, source: string): Promise<boolean> {
  const rows = await db.query(sql`
    INSERT INTO suppressions (address_hash, address, reason, source)
    VALUES (${addressHash(address)}, ${normaliseAddress(address)}, ${reason}, ${source})
    ON CONFLICT (address_hash) DO NOTHING RETURNING address_hash`);
  return rows.length === 1;
}

/**
 * Suppresses an address unless it already is, and returns the new row's key — its hash (hex)
 * and its created_at in microseconds, which name its AddressSuppressed event whoever publishes
 * it — or null when the address was already suppressed (that row's writer owns its event).
 */
export async function addSuppressionRow(db: Queryable, address: string, reason: string, source: string): Promise<{ hashHex: string; createdAtMicros: number } | null> {
  const rows = await db.query(sql`
    INSERT INTO suppressions (address_hash, address, reason, source)
    VALUES (${addressHash(address)}, ${normaliseAddress(address)}, ${reason}, ${source})
    ON CONFLICT (address_hash) DO NOTHING
    RETURNING encode(address_hash, 'hex') AS hash, (extract(epoch FROM created_at) * 1000000)::bigint AS micros`);
  const row = rows[0];
  return row ? { hashHex: row.hash as string, createdAtMicros: Number(row.micros) } : null;
}
