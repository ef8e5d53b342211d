import { Keyring } from './keyring.js';
import { TokenKeyring } from './tokens.js';
import { LeadTokens } from './lead-tokens.js';
import { loadMasterKeyFiles, parseMasterKeys, type MasterKey } from './keys.js';
import { SecretError } from './errors.js';

export interface KeyringSource {
  /** `id:base64key,id2:base64key` (POSTBUS_MASTER_KEYS). */
  readonly masterKeys: string;
  /** A directory of `<id>.key` files (POSTBUS_MASTER_KEYS_DIR). */
  readonly masterKeysDir: string;
  /** The key for new encryptions (POSTBUS_MASTER_KEY_ID); the first key when empty. */
  readonly masterKeyId: string;
}

/** The keyring from the environment and/or key files: every key that may have encrypted something, one current. */
export async function loadKeyring(src: KeyringSource): Promise<Keyring> {
  const keys: MasterKey[] = [];
  if (src.masterKeys) keys.push(...parseMasterKeys(src.masterKeys));
  if (src.masterKeysDir) keys.push(...(await loadMasterKeyFiles(src.masterKeysDir)));
  if (keys.length === 0) {
    throw new SecretError('secret_keyring_invalid', 'no master key configured: set POSTBUS_MASTER_KEYS (id:base64 of 32 random bytes) or POSTBUS_MASTER_KEYS_DIR');
  }
  return new Keyring(keys, src.masterKeyId || keys[0]!.id);
}

/**
 * The tracking-token keyring, derived from the master keys (HKDF): the sender issues tokens
 * and the tracking service opens them with the same derivation, so no separate key is needed,
 * and rotating the master keys rotates the tokens' keys with the same overlap.
 */
export async function loadTokenKeyring(src: KeyringSource): Promise<TokenKeyring> {
  const keys: MasterKey[] = [];
  if (src.masterKeys) keys.push(...parseMasterKeys(src.masterKeys));
  if (src.masterKeysDir) keys.push(...(await loadMasterKeyFiles(src.masterKeysDir)));
  if (keys.length === 0) throw new SecretError('secret_keyring_invalid', 'no master key configured: set POSTBUS_MASTER_KEYS or POSTBUS_MASTER_KEYS_DIR');
  return TokenKeyring.fromMasterKeys(keys, src.masterKeyId || keys[0]!.id);
}

/** The lead-token keys, derived from the master keys like the tracking tokens' (HKDF, a label of their own). */
export async function loadLeadTokens(src: KeyringSource): Promise<LeadTokens> {
  const keys: MasterKey[] = [];
  if (src.masterKeys) keys.push(...parseMasterKeys(src.masterKeys));
  if (src.masterKeysDir) keys.push(...(await loadMasterKeyFiles(src.masterKeysDir)));
  if (keys.length === 0) throw new SecretError('secret_keyring_invalid', 'no master key configured: set POSTBUS_MASTER_KEYS or POSTBUS_MASTER_KEYS_DIR');
  return LeadTokens.fromMasterKeys(keys, src.masterKeyId || keys[0]!.id);
}
