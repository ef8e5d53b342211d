import { findAdminUserSession, isDatabaseUnavailable, type AdminUserSession, type Database } from '@postbus/db';
import type { Logger } from '@postbus/telemetry';
import type { Principal } from './auth.js';

interface Entry {
  readonly state: AdminUserSession | null;
  /** When it was read (ms, the monotonic clock). */
  readonly at: number;
}

const MAX_ENTRIES = 10_000;

/**
 * Whether an access token still speaks for its user: read on every request, through a cache
 * of `ttlMs` (one primary-key read per user and period). A change made through this instance
 * forgets the user at once; another instance sees it within `ttlMs`. The token must name the
 * user's current token version, and the user must exist and be enabled — so a role change,
 * disabling, deleting or a new password ends the user's outstanding access tokens.
 *
 * While Postgres cannot be reached the last state read stands, and for a user not read yet the
 * token's own claims (as before versions existed): no user can be changed without Postgres, and
 * the API's Postgres-free path (POST /v1/messages without an Idempotency-Key) keeps working.
 */
export class UserSessions {
  readonly #cache = new Map<string, Entry>();
  readonly #reading = new Map<string, Promise<AdminUserSession | null | 'unknown'>>();
  #lastWarning = -Infinity;

  constructor(
    private readonly db: Database,
    private readonly ttlMs: number,
    private readonly log: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The principal with its current role, or undefined when the token no longer counts. */
  async check(p: Principal): Promise<Principal | undefined> {
    let state = await this.#state(p.userId);
    // A token newer than what is cached (a login after a change made elsewhere): read again.
    if (state !== 'unknown' && state !== null && p.tokenVersion > state.tokenVersion) {
      this.forget(p.userId);
      state = await this.#state(p.userId);
    }
    if (state === 'unknown') return p;
    if (state === null || state.disabled || state.tokenVersion !== p.tokenVersion) return undefined;
    return state.role === p.role ? p : { ...p, role: state.role };
  }

  /** Drops what is known of a user (called after changing it here). */
  forget(userId: string): void {
    this.#cache.delete(userId);
  }

  async #state(userId: string): Promise<AdminUserSession | null | 'unknown'> {
    const cached = this.#cache.get(userId);
    if (cached && this.now() - cached.at < this.ttlMs) return cached.state;
    let reading = this.#reading.get(userId);
    if (!reading) {
      reading = this.#read(userId, cached).finally(() => this.#reading.delete(userId));
      this.#reading.set(userId, reading);
    }
    return reading;
  }

  async #read(userId: string, stale: Entry | undefined): Promise<AdminUserSession | null | 'unknown'> {
    try {
      const state = (await findAdminUserSession(this.db, userId)) ?? null;
      if (this.#cache.size >= MAX_ENTRIES) this.#cache.clear();
      this.#cache.set(userId, { state, at: this.now() });
      return state;
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err;
      if (this.now() - this.#lastWarning > 10_000) {
        this.#lastWarning = this.now();
        this.log.warn('postgres unavailable: access tokens are checked against the last known state of their users');
      }
      return stale ? stale.state : 'unknown';
    }
  }
}
