import type { AccountDirectory, Bus } from '@postbus/bus';
import type { Database, SecretCipher } from '@postbus/db';
import type { Logger } from '@postbus/telemetry';
import type { JwtKey } from './adapters/auth.js';
import type { LoginLimits } from './auth/login.js';

/** Everything buildAdmin needs, built by main.ts (or by a test) — the app reads no config itself. */
export interface AdminDeps {
  readonly bus: Bus;
  readonly db: Database;
  readonly directory: AccountDirectory;
  /** Encrypts SMTP passwords and Gmail keys before they are stored (a Keyring from @postbus/secrets). */
  readonly cipher: SecretCipher;
  readonly auth: {
    /** HS256 key, at least 32 bytes (key id `default`); jwtKeys, when given, replaces it. */
    readonly jwtSecret: Uint8Array;
    /** Several keys for rotation with overlap: the first signs, all verify (adapters/auth.ts parseJwtKeys). */
    readonly jwtKeys?: readonly JwtKey[];
    /** The bootstrap admin, created or updated at start-up (AuthService.bootstrap). */
    readonly adminUser: string;
    readonly adminPassword: string;
    /** Lockout and rate-limit thresholds (tests lower them); defaults in auth/login.ts. */
    readonly loginLimits?: LoginLimits;
  };
  readonly clock?: () => Date;
  readonly log: Logger;
  /** Token endpoints a Gmail service-account key may name besides Google's (tests: the stand-in's). */
  readonly gmailTrustedTokenUris?: readonly string[];
  /** Most messages in one POST /v1/messages (default 1000). */
  readonly maxBatch?: number;
  /** Sponsor forwarding endpoints may be http and private addresses (tests only: POSTBUS_SPONSOR_ALLOW_PRIVATE_ENDPOINTS). */
  readonly sponsors?: { readonly allowPrivateEndpoints: boolean };
  /** How long one publish may wait for JetStream's acknowledgement (default: the bus's own, 10 s). */
  readonly publishTimeoutMs?: number;
  /** The general rate limit (config `admin.rateLimit`); default LIMITS.rateLimit. */
  readonly rateLimit?: Partial<AdminRateLimit>;
  /** How long a user's role, state and token version are cached (config `admin.userCacheMs`); default LIMITS.userCacheMs. */
  readonly userCacheMs?: number;
  /** When set, /metrics answers only `Authorization: Bearer <token>` (POSTBUS_METRICS_TOKEN); unset: public. */
  readonly metricsToken?: string;
}

/** A token bucket per authenticated user, and one per client address for requests without a valid token. */
export interface AdminRateLimit {
  readonly userPerSecond: number;
  readonly userBurst: number;
  readonly ipPerSecond: number;
  readonly ipBurst: number;
}

/** Limits fixed by the API contract. */
export const LIMITS = Object.freeze({
  bodyBytes: 10 * 1024 * 1024,
  smallBodyBytes: 64 * 1024,
  messageContentBytes: 512 * 1024,
  maxBatch: 1000,
  /** Longest page of GET /v1/accounts. */
  maxAccountPage: 500,
  tokenTtlSeconds: 900,
  idempotencyKeyPattern: '^[\\x20-\\x7E]{1,200}$',
  retryAfterSeconds: 5,
  /** The defaults of POSTBUS_ADMIN_RATE_* (packages/config): far above what a person or `pnpm bench:send` does. */
  rateLimit: Object.freeze({ userPerSecond: 200, userBurst: 2_000, ipPerSecond: 50, ipBurst: 2_000 }),
  /** Buckets kept at most per limiter (the oldest is forgotten beyond). */
  rateLimitClients: 100_000,
  userCacheMs: 1_000,
});
