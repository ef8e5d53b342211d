export { Keyring, keyIdOf } from './keyring.js';
export {
  parseMasterKeys,
  loadMasterKeyFiles,
  generateMasterKey,
  decodeMasterKey,
  isValidKeyId,
  KEY_BYTES,
  type MasterKey,
} from './keys.js';
export { SecretError, isSecretError, type SecretErrorCode } from './errors.js';
export { loadKeyring, loadTokenKeyring, loadLeadTokens, type KeyringSource } from './load.js';
export { LeadTokens, type LeadTokenPayload, type LeadTokenResult } from './lead-tokens.js';
export {
  TokenKeyring,
  type TokenKind,
  type TokenPayloads,
  type OpenTokenPayload,
  type ClickTokenPayload,
  type UnsubTokenPayload,
  type TokenErrorCode,
  type TokenOpenResult,
} from './tokens.js';
