import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SecretError } from './errors.js';
import { KEY_BYTES, assertUniqueIds, isValidKeyId, type MasterKey } from './keys.js';

const VERSION = 'v1';
const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const B64URL = /^[A-Za-z0-9_-]*$/;

/**
 * AES-256-GCM under named master keys. Every ciphertext carries its key id, so old keys stay
 * readable while new writes use the current one: rotation is "add key, switch current,
 * re-encrypt what needsRotation() reports, drop the old key" with no downtime.
 * The `aad` binds a ciphertext to its owner (e.g. `smtp_password:<accountId>`), so a value
 * copied into another row does not decrypt.
 */
export class Keyring {
  readonly currentKeyId: string;
  readonly #keys: ReadonlyMap<string, Buffer>;

  constructor(keys: readonly MasterKey[], currentKeyId: string) {
    assertUniqueIds(keys);
    const map = new Map<string, Buffer>();
    for (const { id, key } of keys) {
      if (!isValidKeyId(id)) {
        throw new SecretError('secret_key_invalid', 'master key id must match /^[A-Za-z0-9_-]{1,32}$/');
      }
      if (key.length !== KEY_BYTES) {
        throw new SecretError('secret_key_invalid', `master key "${id}" must be ${KEY_BYTES} bytes`);
      }
      // Copied so a caller zeroing or reusing its buffer cannot change the keyring.
      map.set(id, Buffer.from(key));
    }
    if (!map.has(currentKeyId)) {
      throw new SecretError('secret_key_unknown', `current key "${currentKeyId}" is not in the keyring`);
    }
    this.#keys = map;
    this.currentKeyId = currentKeyId;
  }

  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  encrypt(plaintext: string, aad: string): string {
    const key = this.#keys.get(this.currentKeyId) as Buffer;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, this.currentKeyId, b64url(iv), b64url(body), b64url(tag)].join('.');
  }

  decrypt(ciphertext: string, aad: string): string {
    const parsed = parse(ciphertext);
    const key = this.#keys.get(parsed.keyId);
    if (!key) throw new SecretError('secret_key_unknown', `no master key "${parsed.keyId}" in the keyring`);
    try {
      const decipher = createDecipheriv(ALGORITHM, key, parsed.iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(parsed.tag);
      return Buffer.concat([decipher.update(parsed.body), decipher.final()]).toString('utf8');
    } catch {
      // No cause attached: node's message is harmless today, but nothing here needs it.
      throw new SecretError('secret_corrupt', 'secret failed authentication (tampered, wrong key or wrong aad)');
    }
  }

  /** True when the ciphertext is not under the current key (or is not a v1 ciphertext at all). */
  needsRotation(ciphertext: string): boolean {
    const keyId = keyIdOf(ciphertext);
    return keyId !== this.currentKeyId;
  }
}

/** The key id a ciphertext names, or undefined when it is not well formed. */
export function keyIdOf(ciphertext: string): string | undefined {
  try {
    return parse(ciphertext).keyId;
  } catch {
    return undefined;
  }
}

interface Parsed {
  keyId: string;
  iv: Buffer;
  body: Buffer;
  tag: Buffer;
}

function parse(ciphertext: string): Parsed {
  const parts = ciphertext.split('.');
  if (parts.length !== 5) throw corrupt();
  const [version, keyId, iv, body, tag] = parts as [string, string, string, string, string];
  if (version !== VERSION || !isValidKeyId(keyId)) throw corrupt();
  if (!B64URL.test(iv) || !B64URL.test(body) || !B64URL.test(tag)) throw corrupt();
  const parsed = { keyId, iv: fromB64url(iv), body: fromB64url(body), tag: fromB64url(tag) };
  if (parsed.iv.length !== IV_BYTES || parsed.tag.length !== TAG_BYTES) throw corrupt();
  return parsed;
}

function corrupt(): SecretError {
  return new SecretError('secret_corrupt', 'secret is not a well-formed v1 ciphertext');
}

function b64url(buf: Buffer): string {
  return buf.toString('base64url');
}

function fromB64url(text: string): Buffer {
  const buf = Buffer.from(text, 'base64url');
  // Non-canonical text (changed padding bits) decodes to the same bytes; refuse it so that
  // any change to the stored string is detected, not just changes to the bytes.
  if (buf.toString('base64url') !== text) throw corrupt();
  return buf;
}
