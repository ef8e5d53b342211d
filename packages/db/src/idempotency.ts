import { sql, type Queryable } from '@databases/pg';

export type IdempotencyClaim =
  | { readonly kind: 'new' }
  | { readonly kind: 'replay'; readonly statusCode: number; readonly response: unknown }
  | { readonly kind: 'conflict' }
  | { readonly kind: 'in_progress' };

/**
 * Claims an idempotency key for a request (kept 24 h). The same key with the same body
 * replays the stored answer; with another body it is a conflict. A `pending` key whose
 * request died is taken over after `staleAfterMs` (the publish it guarded is idempotent).
 */
export async function claimIdempotencyKey(
  db: Queryable,
  principal: string,
  key: string,
  requestHash: string,
  now: Date,
  staleAfterMs = 30_000,
): Promise<IdempotencyClaim> {
  const expiresAt = new Date(now.getTime() + 24 * 3600_000);
  const inserted = await db.query(sql`
    INSERT INTO idempotency_keys (principal, key, request_hash, state, created_at, expires_at)
    VALUES (${principal}, ${key}, ${requestHash}, 'pending', ${now}, ${expiresAt})
    ON CONFLICT (principal, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, state = 'pending',
      created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at, status_code = NULL, response = NULL
      WHERE idempotency_keys.expires_at <= ${now}
         OR (idempotency_keys.state = 'pending' AND idempotency_keys.request_hash = EXCLUDED.request_hash
             AND idempotency_keys.created_at <= ${new Date(now.getTime() - staleAfterMs)})
    RETURNING key`);
  if (inserted.length === 1) return { kind: 'new' };
  const [row] = await db.query(sql`SELECT request_hash, state, status_code, response FROM idempotency_keys
                                   WHERE principal = ${principal} AND key = ${key}`);
  if (!row) return { kind: 'in_progress' };
  if (row.request_hash !== requestHash) return { kind: 'conflict' };
  if (row.state === 'pending') return { kind: 'in_progress' };
  return { kind: 'replay', statusCode: row.status_code, response: row.response };
}

export async function completeIdempotencyKey(db: Queryable, principal: string, key: string, statusCode: number, response: unknown): Promise<void> {
  await db.query(sql`UPDATE idempotency_keys SET state = 'done', status_code = ${statusCode}, response = ${JSON.stringify(response)}::jsonb
                     WHERE principal = ${principal} AND key = ${key}`);
}

/** Forget a pending key whose request failed before anything was accepted, so a retry can use it. */
export async function releaseIdempotencyKey(db: Queryable, principal: string, key: string): Promise<void> {
  await db.query(sql`DELETE FROM idempotency_keys WHERE principal = ${principal} AND key = ${key} AND state = 'pending'`);
}

export async function purgeExpiredIdempotencyKeys(db: Queryable, now: Date): Promise<number> {
  const rows = await db.query(sql`DELETE FROM idempotency_keys WHERE expires_at <= ${now} RETURNING key`);
  return rows.length;
}
