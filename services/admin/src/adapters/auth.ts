import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, type JWTHeaderParameters } from 'jose';
import { isRole, type Role } from '../auth/roles.js';

const ISSUER = 'postbus';
const AUDIENCE = 'postbus-admin';

/** One HS256 key: tokens name it in their `kid` header. */
export interface JwtKey {
  readonly kid: string;
  readonly secret: Uint8Array;
}

/**
 * POSTBUS_JWT_SECRET: a plain secret (kid `default`), or `kid:secret` entries separated by
 * commas — the first signs, all verify, so a new key can be added first and the old one
 * removed once its tokens (15 minutes) have expired.
 */
export function parseJwtKeys(value: string): JwtKey[] {
  const text = value.trim();
  const entries = text.split(',').map((e) => e.trim()).filter(Boolean);
  const named = entries.every((e) => /^[A-Za-z0-9._-]{1,32}:./.test(e));
  const keys = named
    ? entries.map((e) => {
        const i = e.indexOf(':');
        return { kid: e.slice(0, i), secret: new TextEncoder().encode(e.slice(i + 1)) };
      })
    : [{ kid: 'default', secret: new TextEncoder().encode(text) }];
  if (keys.length === 0) throw new Error('POSTBUS_JWT_SECRET is empty');
  if (new Set(keys.map((k) => k.kid)).size !== keys.length) throw new Error('POSTBUS_JWT_SECRET names a key id twice');
  return keys;
}

export interface IssuedToken {
  readonly accessToken: string;
  readonly expiresIn: number;
}

/** Who a valid access token speaks for. */
export interface Principal {
  readonly userId: string;
  readonly username: string;
  readonly role: Role;
  /** The user's token version when the token was issued (`ver`): a later change of the user bumps it (adapters/user-sessions.ts). */
  readonly tokenVersion: number;
}

/** HS256 access tokens: issued on login and refresh, checked on every other request with the algorithm pinned. */
export class TokenService {
  readonly #keys: ReadonlyMap<string, Uint8Array>;
  readonly #signing: JwtKey;

  constructor(
    keys: readonly JwtKey[],
    private readonly ttlSeconds: number,
    private readonly clock: () => Date,
  ) {
    if (keys.length === 0) throw new Error('no JWT key (POSTBUS_JWT_SECRET)');
    for (const k of keys) if (k.secret.byteLength < 32) throw new Error('the JWT secret must be at least 32 bytes (POSTBUS_JWT_SECRET)');
    this.#keys = new Map(keys.map((k) => [k.kid, k.secret]));
    this.#signing = keys[0]!;
  }

  async issue(p: Principal): Promise<IssuedToken> {
    const now = Math.floor(this.clock().getTime() / 1000);
    const accessToken = await new SignJWT({ typ: 'access', role: p.role, name: p.username, ver: p.tokenVersion })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: this.#signing.kid })
      .setSubject(p.userId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + this.ttlSeconds)
      .setJti(randomUUID())
      .sign(this.#signing.secret);
    return { accessToken, expiresIn: this.ttlSeconds };
  }

  /** The token's principal, or undefined for anything not valid now (the reason is not told). */
  async verify(token: string): Promise<Principal | undefined> {
    try {
      const { payload } = await jwtVerify(
        token,
        (header: JWTHeaderParameters) => {
          const key = header.kid === undefined ? undefined : this.#keys.get(header.kid);
          if (!key) throw new Error('unknown kid');
          return key;
        },
        { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, currentDate: this.clock(), requiredClaims: ['sub', 'exp', 'iat'] },
      );
      const { sub, role, name, typ, ver } = payload as { sub?: unknown; role?: unknown; name?: unknown; typ?: unknown; ver?: unknown };
      if (typ !== 'access' || typeof sub !== 'string' || !sub || typeof name !== 'string' || !name || !isRole(role)) return undefined;
      if (typeof ver !== 'number' || !Number.isSafeInteger(ver) || ver < 0) return undefined;
      return { userId: sub, username: name, role, tokenVersion: ver };
    } catch {
      return undefined;
    }
  }
}

const BEARER = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i;

export function bearerToken(header: string | undefined): string | undefined {
  if (!header || header.length > 4096) return undefined;
  return BEARER.exec(header.trim())?.[1];
}

/** Refresh tokens are opaque (not JWTs: they cannot pass for an access token) and stored only as hashes. */
export const newRefreshToken = (): string => `pbr_${randomBytes(32).toString('base64url')}`;
export const REFRESH_TOKEN_PATTERN = '^pbr_[A-Za-z0-9_-]{43}$';
export const hashRefreshToken = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();
