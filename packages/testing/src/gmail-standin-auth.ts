import { createPublicKey, generateKeyPair, randomBytes, randomUUID, verify, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { JWT_TIME_ERROR, UNAUTHORIZED_CLIENT, oauthError, type StandinReply } from './gmail-standin-errors.js';

export const GMAIL_SEND_SCOPE = 'https://www.googleapis.com/auth/gmail.send';
export const GMAIL_READONLY_SCOPE = 'https://www.googleapis.com/auth/gmail.readonly';
export const GMAIL_METADATA_SCOPE = 'https://www.googleapis.com/auth/gmail.metadata';
export const GMAIL_MODIFY_SCOPE = 'https://www.googleapis.com/auth/gmail.modify';
export const GMAIL_COMPOSE_SCOPE = 'https://www.googleapis.com/auth/gmail.compose';
export const GMAIL_FULL_SCOPE = 'https://mail.google.com/';

/** The audience Google checks an assertion against (gtoken signs this one whatever token_uri says). */
export const GOOGLE_TOKEN_AUDIENCES: readonly string[] = [
  'https://oauth2.googleapis.com/token',
  'https://www.googleapis.com/oauth2/v4/token',
  'https://accounts.google.com/o/oauth2/token',
];

/** A service account key file as the Google Cloud console downloads it. */
export interface ServiceAccountKeyFile {
  readonly type: 'service_account';
  readonly project_id: string;
  readonly private_key_id: string;
  readonly private_key: string;
  readonly client_email: string;
  readonly client_id: string;
  readonly auth_uri: string;
  readonly token_uri: string;
  readonly auth_provider_x509_cert_url: string;
  readonly client_x509_cert_url: string;
  readonly universe_domain: string;
}

const generateRsa = promisify(generateKeyPair);

/** A fresh RSA key pair and the key file for it. Registered nowhere: see `standin.createServiceAccount`. */
export async function createServiceAccountKey(opts: {
  tokenUri: string;
  clientEmail?: string;
  projectId?: string;
}): Promise<{ key: ServiceAccountKeyFile; publicKeyPem: string }> {
  const { publicKey, privateKey } = await generateRsa('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const projectId = opts.projectId ?? 'postbus-standin';
  const clientEmail = opts.clientEmail ?? `sender-${randomUUID().slice(0, 8)}@${projectId}.iam.gserviceaccount.com`;
  const key: ServiceAccountKeyFile = {
    type: 'service_account',
    project_id: projectId,
    private_key_id: randomBytes(20).toString('hex'),
    private_key: privateKey,
    client_email: clientEmail,
    client_id: String(100_000_000_000_000_000_000n + BigInt(`0x${randomBytes(8).toString('hex')}`)),
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: opts.tokenUri,
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(clientEmail)}`,
    universe_domain: 'googleapis.com',
  };
  return { key, publicKeyPem: publicKey };
}

export interface RegisteredServiceAccount {
  readonly clientEmail: string;
  readonly keyId: string;
  readonly publicKey: KeyObject;
  /** Scopes the domain's admin delegated to this client (domain-wide delegation). */
  delegatedScopes: Set<string>;
}

/** What a verified assertion asks for. */
export interface Grant {
  readonly clientEmail: string;
  readonly user: string;
  readonly scopes: readonly string[];
}

export type AssertionCheck = { ok: true; grant: Grant } | { ok: false; reply: StandinReply; user?: string };

const b64json = (part: string): unknown => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

/**
 * Checks a jwt-bearer assertion as Google does: RS256 signature by the registered key of its
 * `iss`, the audience, a lifetime of at most an hour around now (with `skewSeconds` of slack),
 * and a `sub` to impersonate. Users and delegated scopes are checked by the caller.
 */
export function checkAssertion(
  assertion: string,
  accounts: ReadonlyMap<string, RegisteredServiceAccount>,
  audiences: readonly string[],
  nowMs: number,
  skewSeconds: number,
): AssertionCheck {
  const parts = assertion.split('.');
  const invalid = (description: string, user?: string): AssertionCheck => ({
    ok: false,
    reply: oauthError(400, 'invalid_grant', description),
    ...(user ? { user } : {}),
  });
  if (parts.length !== 3) return { ok: false, reply: oauthError(400, 'invalid_request', 'Invalid JWT.') };
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = b64json(parts[0]!) as Record<string, unknown>;
    claims = b64json(parts[1]!) as Record<string, unknown>;
  } catch {
    return { ok: false, reply: oauthError(400, 'invalid_request', 'Invalid JWT.') };
  }
  const sub = typeof claims.sub === 'string' ? claims.sub.toLowerCase() : undefined;
  if (header.alg !== 'RS256') return invalid('Invalid JWT Signature.', sub);
  const iss = typeof claims.iss === 'string' ? claims.iss : '';
  const account = accounts.get(iss);
  if (!account) return invalid('Invalid grant: account not found', sub);
  if (header.kid !== undefined && header.kid !== account.keyId) return invalid('Invalid JWT Signature.', sub);
  const signed = verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), account.publicKey, Buffer.from(parts[2]!, 'base64url'));
  if (!signed) return invalid('Invalid JWT Signature.', sub);
  if (typeof claims.aud !== 'string' || !audiences.includes(claims.aud)) return invalid('Invalid JWT: Failed audience check.', sub);
  const { iat, exp } = claims;
  const now = nowMs / 1000;
  const timely =
    typeof iat === 'number' && typeof exp === 'number' && exp > iat && exp - iat <= 3600 && iat <= now + skewSeconds && exp >= now - skewSeconds;
  if (!timely) return invalid(JWT_TIME_ERROR, sub);
  if (typeof claims.scope !== 'string' || claims.scope.trim() === '') {
    return { ok: false, reply: oauthError(400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.'), ...(sub ? { user: sub } : {}) };
  }
  // Without `sub` the token would be the service account's own: no mailbox, no Gmail.
  if (!sub) return invalid('Invalid email or User ID');
  const scopes = claims.scope.split(/\s+/).filter(Boolean);
  if (!scopes.every((s) => account.delegatedScopes.has(s))) {
    return { ok: false, reply: oauthError(401, 'unauthorized_client', UNAUTHORIZED_CLIENT), user: sub };
  }
  return { ok: true, grant: { clientEmail: iss, user: sub, scopes } };
}

export interface IssuedToken {
  readonly user: string;
  readonly scopes: ReadonlySet<string>;
  readonly expiresAt: number;
}

/** Opaque bearer tokens bound to a user and scopes. */
export class TokenStore {
  private readonly tokens = new Map<string, IssuedToken>();

  issue(grant: Grant, nowMs: number, lifetimeSeconds = 3599): { access_token: string; expires_in: number; token_type: 'Bearer' } {
    const token = `ya29.standin-${randomBytes(32).toString('base64url')}`;
    this.tokens.set(token, { user: grant.user, scopes: new Set(grant.scopes), expiresAt: nowMs + lifetimeSeconds * 1000 });
    return { access_token: token, expires_in: lifetimeSeconds, token_type: 'Bearer' };
  }

  lookup(authorization: string | undefined, nowMs: number): IssuedToken | undefined {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    const t = m?.[1] ? this.tokens.get(m[1]) : undefined;
    return t && t.expiresAt > nowMs ? t : undefined;
  }

  revoke(user?: string): void {
    for (const [token, t] of this.tokens) if (user === undefined || t.user === user) this.tokens.delete(token);
  }

  of(user: string): string[] {
    return [...this.tokens].filter(([, t]) => t.user === user).map(([token]) => token);
  }
}

export function registerKey(key: Pick<ServiceAccountKeyFile, 'client_email' | 'private_key_id'>, publicKeyPem: string, scopes: Iterable<string>): RegisteredServiceAccount {
  return { clientEmail: key.client_email, keyId: key.private_key_id, publicKey: createPublicKey(publicKeyPem), delegatedScopes: new Set(scopes) };
}
