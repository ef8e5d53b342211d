import { sql, type Queryable, type Transaction } from '@databases/pg';

/** Admin users, their refresh-token families and the audit log (migration 0007). */

export type AdminRole = 'admin' | 'operator' | 'viewer';
export type TotpState = 'off' | 'pending' | 'on';

export interface AdminUserRow {
  readonly id: string;
  readonly username: string;
  readonly passwordHash: string;
  readonly role: AdminRole;
  readonly disabled: boolean;
  readonly totpState: TotpState;
  readonly totpSecretId: string | null;
  readonly totpLastStep: number | null;
  readonly failedLogins: number;
  readonly lockedUntil: Date | null;
  readonly lastLoginAt: Date | null;
  /** Bumped by every change that must end the user's sessions; access tokens carry it (migration 0010). */
  readonly tokenVersion: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

function toUser(r: Record<string, any>): AdminUserRow {
  return {
    id: r.id,
    username: r.username,
    passwordHash: r.password_hash,
    role: r.role,
    disabled: r.disabled,
    totpState: r.totp_state,
    totpSecretId: r.totp_secret_id,
    totpLastStep: r.totp_last_step === null ? null : Number(r.totp_last_step),
    failedLogins: r.failed_logins,
    lockedUntil: r.locked_until,
    lastLoginAt: r.last_login_at,
    tokenVersion: r.token_version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export async function findAdminUserByName(db: Queryable, username: string): Promise<AdminUserRow | undefined> {
  const [r] = await db.query(sql`SELECT * FROM admin_users WHERE username = ${username}`);
  return r ? toUser(r) : undefined;
}

export async function findAdminUser(db: Queryable, id: string): Promise<AdminUserRow | undefined> {
  const [r] = await db.query(sql`SELECT * FROM admin_users WHERE id = ${id}`);
  return r ? toUser(r) : undefined;
}

/** Users by name, `limit` after the name `after` (cursor pagination). */
export async function listAdminUsers(db: Queryable, after: string | undefined, limit: number): Promise<AdminUserRow[]> {
  const where = after === undefined ? sql`` : sql`WHERE username > ${after}`;
  return (await db.query(sql`SELECT * FROM admin_users ${where} ORDER BY username LIMIT ${limit}`)).map(toUser);
}

export interface NewAdminUser {
  readonly id: string;
  readonly username: string;
  readonly passwordHash: string;
  readonly role: AdminRole;
  readonly now: Date;
}

/** Inserts a user; undefined when the name is taken. */
export async function insertAdminUser(db: Queryable, u: NewAdminUser): Promise<AdminUserRow | undefined> {
  const [r] = await db.query(sql`
    INSERT INTO admin_users (id, username, password_hash, role, created_at, updated_at)
    VALUES (${u.id}, ${u.username}, ${u.passwordHash}, ${u.role}, ${u.now}, ${u.now})
    ON CONFLICT (username) DO NOTHING RETURNING *`);
  return r ? toUser(r) : undefined;
}

/**
 * The bootstrap admin from config: created, or its password set again, enabled, an admin and
 * unlocked — the configured credentials always open the door. An existing row's token version
 * is bumped (its password hash changed): callers skip this when nothing changes (unlockAdminUser).
 */
export async function upsertBootstrapAdmin(db: Queryable, u: NewAdminUser): Promise<AdminUserRow> {
  const [r] = await db.query(sql`
    INSERT INTO admin_users (id, username, password_hash, role, created_at, updated_at)
    VALUES (${u.id}, ${u.username}, ${u.passwordHash}, 'admin', ${u.now}, ${u.now})
    ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = 'admin', disabled = false,
      failed_logins = 0, locked_until = NULL, token_version = admin_users.token_version + 1, updated_at = EXCLUDED.updated_at
    RETURNING *`);
  return toUser(r as Record<string, unknown>);
}

/** Lifts a lock and clears the failure count; changes nothing that would end a session. */
export async function unlockAdminUser(db: Queryable, id: string): Promise<void> {
  await db.query(sql`UPDATE admin_users SET failed_logins = 0, locked_until = NULL WHERE id = ${id}`);
}

export interface AdminUserChanges {
  readonly role?: AdminRole;
  readonly disabled?: boolean;
  readonly passwordHash?: string;
  readonly resetTotp?: boolean;
}

/** Applies the changes and bumps the token version: the user's outstanding access tokens stop working. */
export async function updateAdminUser(db: Queryable, id: string, c: AdminUserChanges, now: Date): Promise<AdminUserRow | undefined> {
  const sets = [sql`updated_at = ${now}`, sql`token_version = token_version + 1`];
  if (c.role !== undefined) sets.push(sql`role = ${c.role}`);
  if (c.disabled !== undefined) sets.push(sql`disabled = ${c.disabled}`);
  if (c.passwordHash !== undefined) sets.push(sql`password_hash = ${c.passwordHash}, failed_logins = 0, locked_until = NULL`);
  if (c.resetTotp) sets.push(sql`totp_state = 'off', totp_secret_id = NULL, totp_last_step = NULL`);
  const [r] = await db.query(sql`UPDATE admin_users SET ${sql.join(sets, ', ')} WHERE id = ${id} RETURNING *`);
  return r ? toUser(r) : undefined;
}

/** Deletes a user (its refresh-token families go with it); undefined when there was none. Audit rows keep its name. */
export async function deleteAdminUser(db: Queryable, id: string): Promise<AdminUserRow | undefined> {
  const [r] = await db.query(sql`DELETE FROM admin_users WHERE id = ${id} RETURNING *`);
  return r ? toUser(r) : undefined;
}

/** What the auth hook checks on every request: the user's role, state and token version. */
export interface AdminUserSession {
  readonly role: AdminRole;
  readonly disabled: boolean;
  readonly tokenVersion: number;
}

export async function findAdminUserSession(db: Queryable, id: string): Promise<AdminUserSession | undefined> {
  const [r] = await db.query(sql`SELECT role, disabled, token_version FROM admin_users WHERE id = ${id}`);
  return r ? { role: r.role, disabled: r.disabled, tokenVersion: r.token_version } : undefined;
}

/** Counts a failed login; at `maxFailures` the user is locked until `lockUntil` and the count restarts. */
export async function recordLoginFailure(db: Queryable, id: string, maxFailures: number, lockUntil: Date): Promise<{ locked: boolean }> {
  const [r] = await db.query(sql`
    UPDATE admin_users SET
      failed_logins = CASE WHEN failed_logins + 1 >= ${maxFailures} THEN 0 ELSE failed_logins + 1 END,
      locked_until = CASE WHEN failed_logins + 1 >= ${maxFailures} THEN ${lockUntil}::timestamptz ELSE locked_until END
    WHERE id = ${id} RETURNING failed_logins = 0 AS locked`);
  return { locked: r?.locked === true };
}

export async function recordLoginSuccess(db: Queryable, id: string, now: Date): Promise<void> {
  await db.query(sql`UPDATE admin_users SET failed_logins = 0, locked_until = NULL, last_login_at = ${now} WHERE id = ${id}`);
}

export async function setTotp(db: Queryable, id: string, state: TotpState, secretId: string | null, now: Date): Promise<void> {
  await db.query(sql`UPDATE admin_users SET totp_state = ${state}, totp_secret_id = ${secretId}, totp_last_step = NULL, updated_at = ${now} WHERE id = ${id}`);
}

/** Marks a TOTP step used; false when it (or a later one) was used already — a replayed code. */
export async function claimTotpStep(db: Queryable, id: string, step: number): Promise<boolean> {
  const rows = await db.query(sql`
    UPDATE admin_users SET totp_last_step = ${step} WHERE id = ${id} AND (totp_last_step IS NULL OR totp_last_step < ${step}) RETURNING id`);
  return rows.length === 1;
}

// Refresh tokens ------------------------------------------------------------------------

export async function startTokenFamily(db: Queryable, familyId: string, userId: string, tokenHash: Buffer, now: Date, expiresAt: Date): Promise<void> {
  await db.query(sql`INSERT INTO admin_token_families (id, user_id, created_at) VALUES (${familyId}, ${userId}, ${now})`);
  await db.query(sql`INSERT INTO admin_refresh_tokens (token_hash, family_id, issued_at, expires_at) VALUES (${tokenHash}, ${familyId}, ${now}, ${expiresAt})`);
}

export type RefreshOutcome =
  | { readonly kind: 'rotated'; readonly userId: string; readonly familyId: string }
  | { readonly kind: 'reused'; readonly userId: string; readonly familyId: string }
  | { readonly kind: 'invalid' };

/**
 * Spends a refresh token and adds its successor to the family, in one transaction. A token
 * already spent, or of a revoked family, revokes the family: someone holds a copy.
 */
export async function rotateRefreshToken(tx: Transaction, tokenHash: Buffer, nextHash: Buffer, now: Date, expiresAt: Date): Promise<RefreshOutcome> {
  const [t] = await tx.query(sql`
    SELECT t.family_id, t.expires_at, t.spent_at, f.user_id, f.revoked_at
    FROM admin_refresh_tokens t JOIN admin_token_families f ON f.id = t.family_id
    WHERE t.token_hash = ${tokenHash} FOR UPDATE OF t, f`);
  if (!t) return { kind: 'invalid' };
  if (t.spent_at !== null || t.revoked_at !== null) {
    await revokeTokenFamily(tx, t.family_id, 'reuse', now);
    return { kind: 'reused', userId: t.user_id, familyId: t.family_id };
  }
  if ((t.expires_at as Date).getTime() <= now.getTime()) return { kind: 'invalid' };
  await tx.query(sql`UPDATE admin_refresh_tokens SET spent_at = ${now} WHERE token_hash = ${tokenHash}`);
  await tx.query(sql`INSERT INTO admin_refresh_tokens (token_hash, family_id, issued_at, expires_at) VALUES (${nextHash}, ${t.family_id}, ${now}, ${expiresAt})`);
  return { kind: 'rotated', userId: t.user_id, familyId: t.family_id };
}

/** The family a refresh token belongs to, and its user. */
export async function refreshTokenFamily(db: Queryable, tokenHash: Buffer): Promise<{ familyId: string; userId: string } | undefined> {
  const [r] = await db.query(sql`
    SELECT t.family_id, f.user_id FROM admin_refresh_tokens t JOIN admin_token_families f ON f.id = t.family_id WHERE t.token_hash = ${tokenHash}`);
  return r ? { familyId: r.family_id, userId: r.user_id } : undefined;
}

export async function revokeTokenFamily(db: Queryable, familyId: string, reason: string, now: Date): Promise<void> {
  await db.query(sql`UPDATE admin_token_families SET revoked_at = ${now}, revoked_reason = ${reason} WHERE id = ${familyId} AND revoked_at IS NULL`);
}

/** Every session of a user ends (disabled, password reset, role change). */
export async function revokeUserTokenFamilies(db: Queryable, userId: string, reason: string, now: Date): Promise<void> {
  await db.query(sql`UPDATE admin_token_families SET revoked_at = ${now}, revoked_reason = ${reason} WHERE user_id = ${userId} AND revoked_at IS NULL`);
}

// Audit log -----------------------------------------------------------------------------

export interface AuditEntry {
  readonly at: Date;
  readonly actor: string;
  readonly actorRole?: string | null;
  readonly action: string;
  readonly method?: string | null;
  readonly route?: string | null;
  readonly target?: Readonly<Record<string, string>>;
  readonly status?: number | null;
  readonly outcome: 'ok' | 'denied' | 'failed';
  readonly ip?: string | null;
  readonly requestId?: string | null;
  readonly detail?: string | null;
}

export interface AuditRow extends AuditEntry {
  readonly id: string;
}

export async function insertAudit(db: Queryable, e: AuditEntry): Promise<void> {
  await db.query(sql`
    INSERT INTO audit_log (at, actor, actor_role, action, method, route, target, status, outcome, ip, request_id, detail)
    VALUES (${e.at}, ${e.actor.slice(0, 200)}, ${e.actorRole ?? null}, ${e.action}, ${e.method ?? null}, ${e.route ?? null},
            ${JSON.stringify(e.target ?? {})}::jsonb, ${e.status ?? null}, ${e.outcome}, ${e.ip ?? null}, ${e.requestId ?? null},
            ${e.detail?.slice(0, 500) ?? null})`);
}

export interface AuditQuery {
  readonly actor?: string;
  readonly from?: Date;
  readonly to?: Date;
  /** The id below which to continue (newest first). */
  readonly beforeId?: string;
  readonly limit: number;
}

export async function listAudit(db: Queryable, q: AuditQuery): Promise<AuditRow[]> {
  const where = [sql`true`];
  if (q.actor !== undefined) where.push(sql`actor = ${q.actor}`);
  if (q.from !== undefined) where.push(sql`at >= ${q.from}`);
  if (q.to !== undefined) where.push(sql`at < ${q.to}`);
  if (q.beforeId !== undefined) where.push(sql`id < ${q.beforeId}::bigint`);
  const rows = await db.query(sql`SELECT * FROM audit_log WHERE ${sql.join(where, ' AND ')} ORDER BY id DESC LIMIT ${q.limit}`);
  return rows.map((r) => ({
    id: String(r.id),
    at: r.at,
    actor: r.actor,
    actorRole: r.actor_role,
    action: r.action,
    method: r.method,
    route: r.route,
    target: r.target,
    status: r.status,
    outcome: r.outcome,
    ip: r.ip,
    requestId: r.request_id,
    detail: r.detail,
  }));
}
