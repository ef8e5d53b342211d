import { sql, type Queryable } from '@databases/pg';
import type { SecretCipher } from './secret-store.js';

/** What rotation needs of a keyring: decrypt under any key it holds, encrypt under its current one. */
export type RotatingCipher = SecretCipher;

export interface RotationProgress {
  readonly done: number;
  readonly total: number;
}

export interface RotationSummary {
  /** Rows found under another key when the pass began. */
  readonly total: number;
  readonly rotated: number;
  /** Changed by someone else between our read and our write (already re-encrypted by its writer, or deleted): left as they are. */
  readonly skipped: number;
  /** Could not be decrypted with the keyring (their key is not in it): listed by id, never by content. */
  readonly failed: ReadonlyArray<{ readonly id: string; readonly keyId: string; readonly code: string }>;
}

const aadOf = (id: string, kind: string) => `postbus:secret:${kind}:${id}`;

export interface RotationOptions {
  readonly batchSize?: number;
  readonly onProgress?: (p: RotationProgress) => void;
}

/** One kind of encrypted row, for `rotateRows`. */
export interface RotationSource {
  /** How many rows are not under `target` now. */
  count(target: string): Promise<number>;
  /** The next rows not under `target`, by id after `after`. */
  page(target: string, after: string, limit: number): Promise<ReadonlyArray<{ readonly id: string; readonly keyId: string; readonly ciphertext: string; readonly aad: string }>>;
  /** Writes the new ciphertext only if the row still holds `previous`; true when it did. */
  write(id: string, previous: string, next: string, target: string): Promise<boolean>;
}

/**
 * The rotation pass: rows are read in batches by id; each is rewritten in its own statement,
 * only if its ciphertext is still the one read (an optimistic check: a writer that stored a new
 * value meanwhile wrote it under a current key, and it wins). Services keep reading throughout —
 * every key stays in their ring until this is done — so there is no downtime; running it again
 * rotates only what is left, so it is resumable and safe to repeat.
 */
export async function rotateRows(source: RotationSource, cipher: RotatingCipher, opts: RotationOptions = {}): Promise<RotationSummary> {
  const batchSize = opts.batchSize ?? 100;
  const target = cipher.currentKeyId;
  const total = await source.count(target);
  let rotated = 0;
  let skipped = 0;
  const failed: Array<{ id: string; keyId: string; code: string }> = [];
  let after = '';
  for (;;) {
    const rows = await source.page(target, after, batchSize);
    if (rows.length === 0) break;
    for (const r of rows) {
      let plaintext: string;
      try {
        plaintext = cipher.decrypt(r.ciphertext, r.aad);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        failed.push({ id: r.id, keyId: r.keyId, code: typeof code === 'string' ? code : 'secret_corrupt' });
        continue;
      }
      if (await source.write(r.id, r.ciphertext, cipher.encrypt(plaintext, r.aad), target)) rotated++;
      else skipped++;
    }
    after = rows[rows.length - 1]!.id;
    opts.onProgress?.({ done: rotated + skipped + failed.length, total });
  }
  return { total, rotated, skipped, failed };
}

/** Re-encrypts every secret not yet under the cipher's current key (`rotateRows`). */
export function rotateSecrets(db: Queryable, cipher: RotatingCipher, opts: RotationOptions = {}): Promise<RotationSummary> {
  return rotateRows(
    {
      count: async (target) => ((await db.query(sql`SELECT count(*)::int AS n FROM secrets WHERE key_id <> ${target}`))[0]?.n as number) ?? 0,
      page: async (target, after, limit) =>
        (await db.query(sql`SELECT id, kind, key_id, ciphertext FROM secrets WHERE key_id <> ${target} AND id > ${after} ORDER BY id LIMIT ${limit}`)).map((r) => ({
          id: r.id as string,
          keyId: r.key_id as string,
          ciphertext: r.ciphertext as string,
          aad: aadOf(r.id, r.kind),
        })),
      write: async (id, previous, next, target) =>
        (await db.query(sql`UPDATE secrets SET ciphertext = ${next}, key_id = ${target}, updated_at = now() WHERE id = ${id} AND ciphertext = ${previous} RETURNING id`)).length === 1,
    },
    cipher,
    opts,
  );
}

/** How many secrets each key encrypts now. */
export async function secretsByKey(db: Queryable): Promise<Record<string, number>> {
  const rows = await db.query(sql`SELECT key_id, count(*)::int AS n FROM secrets GROUP BY key_id ORDER BY key_id`);
  return Object.fromEntries(rows.map((r) => [r.key_id as string, r.n as number]));
}
