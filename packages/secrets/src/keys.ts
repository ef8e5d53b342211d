import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SecretError } from './errors.js';

export interface MasterKey {
  readonly id: string;
  readonly key: Buffer;
}

export const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
// Strict: Buffer.from(x, 'base64') silently skips junk, which would hide a truncated paste.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function isValidKeyId(id: string): boolean {
  return KEY_ID.test(id);
}

/** Decodes one base64 key; `label` names where it came from, never what it contains. */
export function decodeMasterKey(id: string, base64: string, label: string): MasterKey {
  if (!isValidKeyId(id)) {
    throw new SecretError(
      'secret_key_invalid',
      // The bad id is not echoed: a swapped "key:id" pair would print the key.
      `${label}: key id must match ${KEY_ID.source}`,
    );
  }
  const trimmed = base64.trim();
  if (!BASE64.test(trimmed)) {
    throw new SecretError('secret_key_invalid', `${label}: key "${id}" is not valid base64`);
  }
  const key = Buffer.from(trimmed, 'base64');
  if (key.length !== KEY_BYTES) {
    throw new SecretError(
      'secret_key_invalid',
      `${label}: key "${id}" must decode to ${KEY_BYTES} bytes, got ${key.length}`,
    );
  }
  return { id, key };
}

/** Parses `id1:base64key,id2:base64key` (whitespace around entries is ignored). */
export function parseMasterKeys(spec: string): MasterKey[] {
  const entries = spec
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  if (entries.length === 0) {
    throw new SecretError('secret_keyring_invalid', 'master key spec is empty');
  }
  const keys: MasterKey[] = [];
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(':');
    if (colon < 0) {
      throw new SecretError(
        'secret_key_invalid',
        `master key entry #${i + 1}: expected "<id>:<base64 key>"`,
      );
    }
    keys.push(decodeMasterKey(entry.slice(0, colon), entry.slice(colon + 1), `master key entry #${i + 1}`));
  });
  assertUniqueIds(keys);
  return keys;
}

/** Reads every `<id>.key` file in `dir`; other files are ignored. */
export async function loadMasterKeyFiles(dir: string): Promise<MasterKey[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.key')).sort();
  const keys: MasterKey[] = [];
  for (const name of names) {
    const id = name.slice(0, -'.key'.length);
    const content = await readFile(join(dir, name), 'utf8');
    keys.push(decodeMasterKey(id, content, `key file ${name}`));
  }
  if (keys.length === 0) {
    throw new SecretError('secret_keyring_invalid', `no <id>.key files in ${dir}`);
  }
  assertUniqueIds(keys);
  return keys;
}

export function generateMasterKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

export function assertUniqueIds(keys: readonly MasterKey[]): void {
  const seen = new Set<string>();
  for (const { id } of keys) {
    if (seen.has(id)) throw new SecretError('secret_keyring_invalid', `duplicate master key id "${id}"`);
    seen.add(id);
  }
}
