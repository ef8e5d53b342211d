import type { AccountDirectory, Bus } from '@postbus/bus';
import type { Database, SecretCipher } from '@postbus/db';
import type { Logger } from '@postbus/telemetry';

/** Everything buildAdmin needs, built by main.ts (or by a test) — the app reads no config itself. */
export interface AdminDeps {
  readonly bus: Bus;
  readonly db: Database;
  readonly directory: AccountDirectory;
  /** Encrypts SMTP passwords and Gmail keys before they are stored (a Keyring from @postbus/secrets). */
  readonly cipher: SecretCipher;
  readonly auth: {
    /** HS256 key, at least 32 bytes. */
    readonly jwtSecret: Uint8Array;
    readonly adminUser: string;
    readonly adminPassword: string;
  };
  readonly clock?: () => Date;
  readonly log: Logger;
  /** Token endpoints a Gmail service-account key may name besides Google's (tests: the stand-in's). */
  readonly gmailTrustedTokenUris?: readonly string[];
  /** Most messages in one POST /v1/messages (default 1000). */
  readonly maxBatch?: number;
  /** How long one publish may wait for JetStream's acknowledgement (default: the bus's own, 10 s). */
  readonly publishTimeoutMs?: number;
}

/** Limits fixed by the API contract. */
export const LIMITS = Object.freeze({
  bodyBytes: 10 * 1024 * 1024,
  smallBodyBytes: 64 * 1024,
  messageContentBytes: 512 * 1024,
  maxBatch: 1000,
  tokenTtlSeconds: 900,
  idempotencyKeyPattern: '^[\\x20-\\x7E]{1,200}$',
  retryAfterSeconds: 5,
});
