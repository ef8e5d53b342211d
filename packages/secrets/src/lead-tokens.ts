import { hkdfSync } from 'node:crypto';
import { Keyring } from './keyring.js';
import { KEY_BYTES, type MasterKey } from './keys.js';
import { SecretError } from './errors.js';

/**
 * Lead tokens: what a click on an offer link adds to its redirect (`postbus_lead=`), so that a
 * landing page — a browser, which cannot hold an API key — may post one lead for that offer.
 * Authenticated encryption (AES-256-GCM through a Keyring over keys derived from the master
 * keys with an HKDF label of their own), so a token is unforgeable and reveals nothing: not
 * the message, not the recipient's hash. Short-lived: the expiry is inside.
 */
export interface LeadTokenPayload {
  readonly messageId: string;
  readonly accountId: string;
  readonly offerId: string;
  /** SHA-256 (hex) of the recipient's normalised address. */
  readonly recipientHash: string;
  /** Unix seconds. */
  readonly expiresAt: number;
}

export type LeadTokenResult =
  | { readonly ok: true; readonly payload: LeadTokenPayload }
  | { readonly ok: false; readonly code: 'token_invalid' | 'token_expired' };

const HKDF_INFO = 'postbus/lead-token/v1';
const AAD = 'postbus:lead-token:v1';
const MAX_TOKEN_CHARS = 1024;
const SHAPE = /^[A-Za-z0-9_.-]+$/;

export class LeadTokens {
  readonly #keyring: Keyring;

  private constructor(keyring: Keyring) {
    this.#keyring = keyring;
  }

  static fromMasterKeys(keys: readonly MasterKey[], currentKeyId: string): LeadTokens {
    const derived = keys.map(({ id, key }) => {
      if (key.length !== KEY_BYTES) throw new SecretError('secret_key_invalid', `master key "${id}" must be ${KEY_BYTES} bytes`);
      return { id, key: Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), HKDF_INFO, KEY_BYTES)) };
    });
    return new LeadTokens(new Keyring(derived, currentKeyId));
  }

  issue(payload: LeadTokenPayload): string {
    const { messageId, accountId, offerId, recipientHash, expiresAt } = payload;
    return this.#keyring.encrypt(JSON.stringify({ m: messageId, a: accountId, o: offerId, r: recipientHash, e: expiresAt }), AAD);
  }

  /** Never throws for bad input. */
  open(token: string, nowSeconds: number): LeadTokenResult {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS || !SHAPE.test(token)) return { ok: false, code: 'token_invalid' };
    let plain: string;
    try {
      plain = this.#keyring.decrypt(token, AAD);
    } catch {
      return { ok: false, code: 'token_invalid' };
    }
    const p = JSON.parse(plain) as { m: string; a: string; o: string; r: string; e: number };
    if (!(p.e > nowSeconds)) return { ok: false, code: 'token_expired' };
    return { ok: true, payload: { messageId: p.m, accountId: p.a, offerId: p.o, recipientHash: p.r, expiresAt: p.e } };
  }
}
