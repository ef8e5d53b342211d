import { createHash, randomBytes, randomUUID, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { SignJWT, jwtVerify } from 'jose';

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

const ISSUER = 'postbus';
const AUDIENCE = 'postbus-admin';
const KEY_BYTES = 64;

/**
 * The bootstrap admin from config. The password is hashed once at start-up and only the
 * hash is kept; a login hashes what it is given with the same salt and compares in
 * constant time, so neither a wrong username nor a wrong password answers faster.
 */
export class AdminCredentials {
  readonly #salt = randomBytes(16);
  readonly #user: Buffer;
  readonly #password: Buffer;

  constructor(user: string, password: string) {
    if (!user) throw new Error('the admin user name is empty');
    if (password.length < 12) throw new Error('the admin password must be at least 12 characters (POSTBUS_ADMIN_PASSWORD)');
    this.#user = digest(user);
    this.#password = scryptSync(password, this.#salt, KEY_BYTES);
  }

  /** The principal on success, undefined otherwise. */
  async verify(user: string, password: string): Promise<string | undefined> {
    const hash = await scryptAsync(password, this.#salt, KEY_BYTES);
    const userOk = timingSafeEqual(digest(user), this.#user);
    const passwordOk = timingSafeEqual(hash, this.#password);
    return userOk && passwordOk ? user : undefined;
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export interface IssuedToken {
  readonly accessToken: string;
  readonly expiresIn: number;
}

/** HS256 access tokens: issued on login, checked on every other request with the algorithm pinned. */
export class TokenService {
  constructor(
    private readonly secret: Uint8Array,
    private readonly ttlSeconds: number,
    private readonly clock: () => Date,
  ) {
    if (secret.byteLength < 32) throw new Error('the JWT secret must be at least 32 bytes (POSTBUS_JWT_SECRET)');
  }

  async issue(subject: string): Promise<IssuedToken> {
    const now = Math.floor(this.clock().getTime() / 1000);
    const accessToken = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(subject)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + this.ttlSeconds)
      .setJti(randomUUID())
      .sign(this.secret);
    return { accessToken, expiresIn: this.ttlSeconds };
  }

  /** The token's subject, or undefined for anything not valid now (the reason is not told). */
  async verify(token: string): Promise<string | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.secret, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        currentDate: this.clock(),
        requiredClaims: ['sub', 'exp', 'iat'],
      });
      return typeof payload.sub === 'string' && payload.sub.length > 0 ? payload.sub : undefined;
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
