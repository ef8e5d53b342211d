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
