import { randomUUID } from 'node:crypto';
import {
  claimTotpStep, findAdminUser, findAdminUserByName, getSecret, insertAudit, putSecret, recordLoginFailure, recordLoginSuccess,
  refreshTokenFamily, revokeTokenFamily, rotateRefreshToken, setTotp, startTokenFamily, unlockAdminUser, upsertBootstrapAdmin,
  type AdminUserRow, type AuditEntry, type Database, type SecretCipher,
} from '@postbus/db';
import { newId } from '@postbus/contracts';
import type { Logger } from '@postbus/telemetry';
import { hashRefreshToken, newRefreshToken, type TokenService } from '../adapters/auth.js';
import { dummyHash, hashPassword, verifyPassword } from './password.js';
import { FailureWindow } from './rate-limit.js';
import { matchTotp, newTotpSecret, otpauthUri } from './totp.js';

export interface LoginLimits {
  /** Failed logins of one user before it is locked (default 5). */
  readonly maxFailures: number;
  /** How long a lock lasts, and the window of the per-name and per-address counts (default 15 min). */
  readonly lockoutMs: number;
  /** Failed logins from one address in the window before it must wait (default 50). */
  readonly maxFailuresPerIp: number;
  /** How long a refresh token lives (default 12 h); each refresh issues a new one. */
  readonly refreshTtlMs: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = Object.freeze({
  maxFailures: 5,
  lockoutMs: 15 * 60_000,
  maxFailuresPerIp: 50,
  refreshTtlMs: 12 * 3600_000,
});

export interface Session {
  readonly accessToken: string;
  readonly tokenType: 'Bearer';
  readonly expiresIn: number;
  readonly refreshToken: string;
  readonly refreshExpiresIn: number;
}

/** Why a login or refresh was refused: the code is the API's, the same for every wrong answer. */
export type Refusal =
  | { readonly refused: 'invalid_credentials' }
  | { readonly refused: 'totp_required' }
  | { readonly refused: 'too_many_attempts'; readonly retryAfterSeconds: number }
  | { readonly refused: 'invalid_refresh_token' };

const TOTP_KIND = 'admin_totp';

/**
 * Logins, refresh-token rotation and TOTP enrolment. Every refusal of a login looks alike
 * (no hint whether the name exists), lockouts answer like the per-name rate limit (which
 * applies to names that do not exist too), and each outcome goes to the audit log.
 */
export class AuthService {
  readonly #byName: FailureWindow;
  readonly #byIp: FailureWindow;

  constructor(
    private readonly db: Database,
    private readonly cipher: SecretCipher,
    private readonly tokens: TokenService,
    private readonly clock: () => Date,
    private readonly log: Logger,
    private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
  ) {
    this.#byName = new FailureWindow(limits.maxFailures, limits.lockoutMs);
    this.#byIp = new FailureWindow(limits.maxFailuresPerIp, limits.lockoutMs);
  }

  /**
   * Creates the configured admin, or sets its password again (start-up). When the user is
   * already an enabled admin with this password it is only unlocked: a restart (every instance
   * runs this) must not end the admin's sessions, which a new hash would (token version).
   */
  static async bootstrap(db: Database, username: string, password: string, now: Date): Promise<AdminUserRow> {
    if (!username) throw new Error('the admin user name is empty');
    if (password.length < 12) throw new Error('the admin password must be at least 12 characters (POSTBUS_ADMIN_PASSWORD)');
    const existing = await findAdminUserByName(db, username);
    if (existing && existing.role === 'admin' && !existing.disabled && (await verifyPassword(password, existing.passwordHash))) {
      await unlockAdminUser(db, existing.id);
      return existing;
    }
    return upsertBootstrapAdmin(db, { id: `usr_${randomUUID().replaceAll('-', '')}`, username, passwordHash: await hashPassword(password), role: 'admin', now });
  }

  async login(input: { username: string; password: string; totp?: string | undefined; ip: string }): Promise<Session | Refusal> {
    const now = this.clock();
    const nameKey = input.username.normalize('NFC').toLowerCase();
    const wait = Math.max(this.#byName.blockedFor(nameKey, now.getTime()), this.#byIp.blockedFor(input.ip, now.getTime()));
    if (wait > 0) {
      await this.audit({ actor: input.username, action: 'login', outcome: 'denied', ip: input.ip, detail: 'rate limited' });
      return { refused: 'too_many_attempts', retryAfterSeconds: Math.ceil(wait / 1000) };
    }
    const user = await findAdminUserByName(this.db, input.username);
    if (user?.lockedUntil && user.lockedUntil.getTime() > now.getTime()) {
      await this.audit({ actor: user.username, actorRole: user.role, action: 'login', outcome: 'denied', ip: input.ip, detail: 'locked' });
      return { refused: 'too_many_attempts', retryAfterSeconds: Math.ceil((user.lockedUntil.getTime() - now.getTime()) / 1000) };
    }
    const passwordOk = await verifyPassword(input.password, user?.passwordHash ?? (await dummyHash()));
    if (!user || !passwordOk || user.disabled) return this.#failed(input.username, user, input.ip, now, 'wrong credentials');

    if (user.totpState === 'on') {
      if (input.totp === undefined) {
        // The password was right: say a code is needed, but count it, so this is no free password oracle.
        await this.#failed(input.username, user, input.ip, now, 'totp missing');
        return { refused: 'totp_required' };
      }
      const secret = Buffer.from(await getSecret(this.db, this.cipher, user.totpSecretId!), 'base64');
      const step = matchTotp(secret, input.totp, now);
      if (step === undefined || !(await claimTotpStep(this.db, user.id, step))) return this.#failed(input.username, user, input.ip, now, 'wrong totp');
    }

    this.#byName.clear(nameKey);
    await recordLoginSuccess(this.db, user.id, now);
    const session = await this.#startSession(user, now);
    await this.audit({ actor: user.username, actorRole: user.role, action: 'login', outcome: 'ok', ip: input.ip, target: { userId: user.id } });
    return session;
  }

  async #failed(username: string, user: AdminUserRow | undefined, ip: string, now: Date, detail: string): Promise<Refusal> {
    this.#byName.fail(username.normalize('NFC').toLowerCase(), now.getTime());
    this.#byIp.fail(ip, now.getTime());
    let locked = false;
    if (user) ({ locked } = await recordLoginFailure(this.db, user.id, this.limits.maxFailures, new Date(now.getTime() + this.limits.lockoutMs)));
    // The name is recorded only when it is a user's: people type passwords into the name field.
    const actor = user ? user.username : '(unknown user)';
    await this.audit({ actor, action: 'login', outcome: 'failed', ip, detail });
    if (locked) await this.audit({ actor, action: 'lockout', outcome: 'ok', ip, target: { userId: user!.id } });
    return { refused: 'invalid_credentials' };
  }

  /** A new refresh-token family (one per login) and its first pair. */
  async #startSession(user: AdminUserRow, now: Date): Promise<Session> {
    const { accessToken, expiresIn } = await this.tokens.issue({ userId: user.id, username: user.username, role: user.role, tokenVersion: user.tokenVersion });
    const refreshToken = newRefreshToken();
    const expires = new Date(now.getTime() + this.limits.refreshTtlMs);
    await this.db.tx((tx) => startTokenFamily(tx, `tkf_${randomUUID().replaceAll('-', '')}`, user.id, hashRefreshToken(refreshToken), now, expires));
    return { accessToken, tokenType: 'Bearer', expiresIn, refreshToken, refreshExpiresIn: Math.floor(this.limits.refreshTtlMs / 1000) };
  }

  /** Spends a refresh token for a new pair; a spent one presented again ends its whole family. */
  async refresh(token: string, ip: string): Promise<Session | Refusal> {
    const now = this.clock();
    const next = newRefreshToken();
    const expires = new Date(now.getTime() + this.limits.refreshTtlMs);
    // The user is read in the transaction that locked the token's family: a change to the user
    // (which revokes the family in its own transaction) either comes first and the token is
    // refused, or comes after and bumps the version the new access token carries.
    const { outcome, current } = await this.db.tx(async (tx) => {
      const rotated = await rotateRefreshToken(tx, hashRefreshToken(token), hashRefreshToken(next), now, expires);
      return { outcome: rotated, current: rotated.kind === 'rotated' ? await findAdminUser(tx, rotated.userId) : undefined };
    });
    if (outcome.kind === 'invalid') return { refused: 'invalid_refresh_token' };
    const user = current ?? (await findAdminUser(this.db, outcome.userId));
    if (outcome.kind === 'reused') {
      this.log.warn({ userId: outcome.userId, familyId: outcome.familyId }, 'refresh token reused: its family is revoked');
      await this.audit({ actor: user?.username ?? outcome.userId, action: 'refresh_reuse', outcome: 'denied', ip, target: { userId: outcome.userId, familyId: outcome.familyId } });
      return { refused: 'invalid_refresh_token' };
    }
    if (!user || user.disabled) {
      await revokeTokenFamily(this.db, outcome.familyId, 'user disabled', now);
      return { refused: 'invalid_refresh_token' };
    }
    const { accessToken, expiresIn } = await this.tokens.issue({ userId: user.id, username: user.username, role: user.role, tokenVersion: user.tokenVersion });
    return { accessToken, tokenType: 'Bearer', expiresIn, refreshToken: next, refreshExpiresIn: Math.floor(this.limits.refreshTtlMs / 1000) };
  }

  /** Ends the session the refresh token belongs to, if it is the caller's. */
  async logout(token: string, userId: string): Promise<void> {
    const family = await refreshTokenFamily(this.db, hashRefreshToken(token));
    if (family && family.userId === userId) await revokeTokenFamily(this.db, family.familyId, 'logout', this.clock());
  }

  /** Starts TOTP enrolment: a new secret, stored encrypted, its otpauth URI shown this once. */
  async enrolTotp(user: { userId: string; username: string }): Promise<{ otpauthUri: string } | 'already_enabled'> {
    const row = await findAdminUser(this.db, user.userId);
    if (!row || row.totpState === 'on') return 'already_enabled';
    const secret = newTotpSecret();
    const secretId = newId('sec');
    await putSecret(this.db, this.cipher, secretId, TOTP_KIND, secret.toString('base64'));
    await setTotp(this.db, user.userId, 'pending', secretId, this.clock());
    return { otpauthUri: otpauthUri(secret, user.username) };
  }

  /** Confirms enrolment with a code from the authenticator: from now on logins need one. */
  async confirmTotp(userId: string, code: string): Promise<'on' | 'not_pending' | 'wrong_code'> {
    const row = await findAdminUser(this.db, userId);
    if (!row || row.totpState !== 'pending' || !row.totpSecretId) return 'not_pending';
    const secret = Buffer.from(await getSecret(this.db, this.cipher, row.totpSecretId), 'base64');
    const step = matchTotp(secret, code, this.clock());
    if (step === undefined) return 'wrong_code';
    await setTotp(this.db, userId, 'on', row.totpSecretId, this.clock());
    await claimTotpStep(this.db, userId, step);
    return 'on';
  }

  /** Writes one audit entry; a failure to write is logged, not thrown (the change is done). */
  async audit(e: Omit<AuditEntry, 'at'>): Promise<void> {
    try {
      await insertAudit(this.db, { at: this.clock(), ...e });
    } catch (err) {
      this.log.error({ err, action: e.action }, 'audit entry not written');
    }
  }
}
