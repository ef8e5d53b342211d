import { sql, type Queryable } from '@databases/pg';
import { PostbusError } from '@postbus/contracts';

/** What the store needs of a keyring (packages/secrets provides one). */
export interface SecretCipher {
  encrypt(plaintext: string, aad: string): string;
  decrypt(ciphertext: string, aad: string): string;
  readonly currentKeyId: string;
}

/** The row id is bound into the ciphertext (AAD): a ciphertext copied to another row does not decrypt. */
const aadOf = (id: string, kind: string) => `postbus:secret:${kind}:${id}`;

export async function putSecret(db: Queryable, cipher: SecretCipher, id: string, kind: string, plaintext: string): Promise<void> {
  const ciphertext = cipher.encrypt(plaintext, aadOf(id, kind));
  await db.query(sql`
    INSERT INTO secrets (id, kind, key_id, ciphertext) VALUES (${id}, ${kind}, ${cipher.currentKeyId}, ${ciphertext})
    ON CONFLICT (id) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, key_id = EXCLUDED.key_id, updated_at = now()`);
}

export async function getSecret(db: Queryable, cipher: SecretCipher, id: string): Promise<string> {
  const [row] = await db.query(sql`SELECT kind, ciphertext FROM secrets WHERE id = ${id}`);
  if (!row) throw new PostbusError('secret_not_found', `secret ${id} not found`, { scope: 'account', status: 500 });
  return cipher.decrypt(row.ciphertext, aadOf(id, row.kind));
}
