import { createCipheriv, createDecipheriv, createHash, hkdfSync } from 'node:crypto';
import { pooledRandomBytes as randomBytes } from '@postbus/contracts';
import { SecretError } from './errors.js';
import { KEY_BYTES, assertUniqueIds, isValidKeyId, type MasterKey } from './keys.js';
import { PayloadReader, PayloadWriter } from './token-codec.js';

/**
 * Tracking tokens (DESIGN.md invariant 7): the path segment of open, click and unsubscribe
 * links. AES-256-GCM makes them unforgeable and opaque, so the tracking service needs no
 * lookup: a click token carries the URL it may redirect to, an unsubscribe token the address
 * to suppress.
 *
 * Layout, base64url without padding:
 *
 *   version (1) | key id (2) | IV (12) | ciphertext (n) | GCM tag (16)
 *
 * The kind is not written: it is bound as associated data together with the version and key
 * id, so a token opened as another kind (an open token at /track/click/) fails authentication.
 * Fixed cost 31 bytes; with two packed ids an open token is 73 bytes, 98 characters. A click
 * token adds the URL plus a byte or two (a 100-character URL gives about 235 characters); an
 * unsubscribe token adds the address and campaign id.
 */
export type TokenKind = 'open' | 'click' | 'unsub';

export interface OpenTokenPayload {
  readonly messageId: string;
  readonly accountId: string;
}

export interface ClickTokenPayload extends OpenTokenPayload {
  /** An absolute http(s) URL in printable ASCII: where the click redirects. */
  readonly url: string;
  /**
   * When the message was composed for sending (Unix seconds): a click seconds later is a link
   * scanner's, not a person's. Absent in tokens issued before it existed.
   */
  readonly issuedAt?: number;
}

export interface UnsubTokenPayload extends OpenTokenPayload {
  /** The normalised recipient address: enough to suppress without reading anything else. */
  readonly address: string;
  readonly campaignId?: string;
}

export interface TokenPayloads {
  readonly open: OpenTokenPayload;
  readonly click: ClickTokenPayload;
  readonly unsub: UnsubTokenPayload;
}

/** Stable codes for a token that does not open; cheap ones are decided before any decryption. */
export type TokenErrorCode = 'token_malformed' | 'token_unknown_key' | 'token_invalid';

export type TokenOpenResult<K extends TokenKind> =
  | { readonly ok: true; readonly kind: K; readonly payload: TokenPayloads[K]; readonly keyId: string }
  | { readonly ok: false; readonly code: TokenErrorCode };

const VERSION = 1;
const HEADER_BYTES = 3;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KIND_BYTE: Readonly<Record<TokenKind, number>> = { open: 1, click: 2, unsub: 3 };
const MAX_URL_BYTES = 4096;
const MAX_ADDRESS_BYTES = 320;
// Two one-byte ids at least; anything shorter cannot be a token.
const MIN_TOKEN_CHARS = Math.ceil(((HEADER_BYTES + IV_BYTES + TAG_BYTES + 4) * 4) / 3);
// Above the largest token issue() can make (a maximal URL and ids), so longer input is junk.
const MAX_TOKEN_CHARS = 6000;
const B64URL = /^[A-Za-z0-9_-]+$/;
const ID = /^[\x21-\x7e]{1,127}$/;
const URL_ASCII = /^https?:\/\/[\x21-\x7e]+$/i;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;
const HKDF_INFO = 'postbus/tracking-token/v1';

interface TokenKey {
  readonly id: string;
  readonly wireId: number;
  readonly key: Buffer;
}

/**
 * Token keys: one current for issuing, all accepted for opening, so rotation is "add the new
 * key, make it current, drop the old one once its links may go unclicked" (unsubscribe links
 * in old mail should keep working for months). Keys are 32 bytes, given raw or derived with
 * HKDF from master keys; they are held in a private field and never appear in an error.
 */
export class TokenKeyring {
  readonly currentKeyId: string;
  readonly #current: TokenKey;
  readonly #byWireId: ReadonlyMap<number, TokenKey>;

  /** Raw 32-byte token keys, named like master keys (`/^[A-Za-z0-9_-]{1,32}$/`). */
  constructor(keys: readonly MasterKey[], currentKeyId: string) {
    assertUniqueIds(keys);
    const byWireId = new Map<number, TokenKey>();
    for (const { id, key } of keys) {
      if (!isValidKeyId(id)) throw new SecretError('secret_key_invalid', 'token key id must match /^[A-Za-z0-9_-]{1,32}$/');
      if (key.length !== KEY_BYTES) throw new SecretError('secret_key_invalid', `token key "${id}" must be ${KEY_BYTES} bytes`);
      const wireId = wireIdOf(id);
      const clash = byWireId.get(wireId);
      if (clash) {
        throw new SecretError('secret_keyring_invalid', `token key ids "${clash.id}" and "${id}" share a wire id; rename one`);
      }
      // Copied so a caller zeroing or reusing its buffer cannot change the keyring.
      byWireId.set(wireId, { id, wireId, key: Buffer.from(key) });
    }
    const current = [...byWireId.values()].find((k) => k.id === currentKeyId);
    if (!current) throw new SecretError('secret_key_unknown', `current token key "${currentKeyId}" is not in the keyring`);
    this.#byWireId = byWireId;
    this.#current = current;
    this.currentKeyId = currentKeyId;
  }

  /**
   * Token keys derived from master keys (HKDF-SHA256, an info label of its own), so one set of
   * master keys serves both the secrets keyring and tokens without any key used for both.
   */
  static fromMasterKeys(keys: readonly MasterKey[], currentKeyId: string): TokenKeyring {
    const derived = keys.map(({ id, key }) => {
      if (key.length !== KEY_BYTES) throw new SecretError('secret_key_invalid', `master key "${id}" must be ${KEY_BYTES} bytes`);
      return { id, key: Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), HKDF_INFO, KEY_BYTES)) };
    });
    return new TokenKeyring(derived, currentKeyId);
  }

  get keyIds(): string[] {
    return [...this.#byWireId.values()].map((k) => k.id);
  }

  /**
   * The keys and the current id, copied, for building the same keyring in a worker thread of
   * this process (`new TokenKeyring(keys, currentKeyId)` there; workerData is copied between
   * threads and never leaves the process). Nothing else may take them: not a log, an event,
   * a file or another process.
   */
  forWorkerThread(): { readonly keys: MasterKey[]; readonly currentKeyId: string } {
    return { keys: [...this.#byWireId.values()].map(({ id, key }) => ({ id, key: Buffer.from(key) })), currentKeyId: this.currentKeyId };
  }

  issue<K extends TokenKind>(kind: K, payload: TokenPayloads[K]): string {
    const plain = encodePayload(kind, payload);
    const header = Buffer.from([VERSION, this.#current.wireId >> 8, this.#current.wireId & 0xff]);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#current.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(header, kind));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([header, iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  /**
   * Opens a token expected to be of `kind`. Never throws for bad input: a tracking endpoint
   * sees scanners and guessed URLs all day, and answers them without the cost of exceptions.
   */
  open<K extends TokenKind>(kind: K, token: string): TokenOpenResult<K> {
    if (typeof token !== 'string' || token.length < MIN_TOKEN_CHARS || token.length > MAX_TOKEN_CHARS) {
      return failure('token_malformed');
    }
    if (!B64URL.test(token) || !Object.hasOwn(KIND_BYTE, kind)) return failure('token_malformed');
    const buf = Buffer.from(token, 'base64url');
    // Non-canonical text (changed padding bits) decodes to the same bytes: refuse it, so that
    // any change to the token string is detected, not only changes to the bytes.
    if (buf[0] !== VERSION || buf.toString('base64url') !== token) return failure('token_malformed');
    const key = this.#byWireId.get(buf.readUInt16BE(1));
    if (!key) return failure('token_unknown_key');
    const header = buf.subarray(0, HEADER_BYTES);
    const iv = buf.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES);
    const body = buf.subarray(HEADER_BYTES + IV_BYTES, buf.length - TAG_BYTES);
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(header, kind));
      decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES));
      plain = Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      return failure('token_invalid');
    }
    try {
      return { ok: true, kind, payload: decodePayload(kind, plain), keyId: key.id };
    } catch {
      // Authentic but unreadable: only a bug of ours could make one. Refused all the same.
      return failure('token_invalid');
    }
  }
}

function failure(code: TokenErrorCode): { readonly ok: false; readonly code: TokenErrorCode } {
  return { ok: false, code };
}

function aad(header: Buffer, kind: TokenKind): Buffer {
  return Buffer.concat([header, Buffer.from([KIND_BYTE[kind]])]);
}

/** A stable two-byte id from the key's name: short on the wire, the same in every process. */
function wireIdOf(id: string): number {
  return createHash('sha256').update(`postbus-token-key\u0000${id}`).digest().readUInt16BE(0);
}

function encodePayload<K extends TokenKind>(kind: K, payload: TokenPayloads[K]): Buffer {
  const w = new PayloadWriter().id(checkId('messageId', payload.messageId)).id(checkId('accountId', payload.accountId));
  switch (kind) {
    case 'open':
      break;
    case 'click': {
      const { url } = payload as ClickTokenPayload;
      if (typeof url !== 'string' || !URL_ASCII.test(url) || url.length > MAX_URL_BYTES) {
        throw invalidPayload('url must be an absolute http(s) URL in printable ASCII of at most 4096 characters');
      }
      w.string(url);
      const { issuedAt } = payload as ClickTokenPayload;
      if (issuedAt !== undefined) {
        if (!Number.isInteger(issuedAt) || issuedAt < 0 || issuedAt > 0xffffffff) throw invalidPayload('issuedAt must be Unix seconds');
        w.uint(issuedAt);
      }
      break;
    }
    case 'unsub': {
      const { address, campaignId } = payload as UnsubTokenPayload;
      if (typeof address !== 'string' || address.length === 0 || CONTROL.test(address) || Buffer.byteLength(address) > MAX_ADDRESS_BYTES) {
        throw invalidPayload('address must be a non-empty address of at most 320 bytes');
      }
      w.string(address);
      if (campaignId !== undefined) w.id(checkId('campaignId', campaignId));
      break;
    }
    default:
      throw invalidPayload('unknown token kind');
  }
  return w.bytes();
}

function decodePayload<K extends TokenKind>(kind: K, plain: Buffer): TokenPayloads[K] {
  const r = new PayloadReader(plain);
  const base = { messageId: r.id(), accountId: r.id() };
  let payload: OpenTokenPayload | ClickTokenPayload | UnsubTokenPayload;
  if (kind === 'click') {
    const url = r.string();
    payload = r.done ? { ...base, url } : { ...base, url, issuedAt: r.uint() };
  }
  else if (kind === 'unsub') {
    const address = r.string();
    payload = r.done ? { ...base, address } : { ...base, address, campaignId: r.id() };
  } else payload = base;
  r.end();
  return payload as TokenPayloads[K];
}

function checkId(field: string, value: unknown): string {
  if (typeof value !== 'string' || !ID.test(value)) {
    throw invalidPayload(`${field} must be 1 to 127 printable ASCII characters`);
  }
  return value;
}

function invalidPayload(problem: string): SecretError {
  // The message names the field and the rule, never the value (it may be an address).
  return new SecretError('token_payload_invalid', `token payload: ${problem}`);
}
