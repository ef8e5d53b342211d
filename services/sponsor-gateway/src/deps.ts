import type { Bus } from '@postbus/bus';
import type { Database, SecretCipher } from '@postbus/db';
import type { LeadTokens } from '@postbus/secrets';
import type { Logger } from '@postbus/telemetry';
import type { RateLimitOptions } from '@postbus/contracts';

/** Everything buildGateway needs, built by main.ts (or by a test) — the app reads no config itself. */
export interface GatewayDeps {
  readonly bus: Bus;
  readonly db: Database;
  /** Encrypts leads at rest and opens sponsors' signing secrets (a Keyring from @postbus/secrets). */
  readonly cipher: SecretCipher;
  readonly leadTokens: LeadTokens;
  readonly log: Logger;
  /** Landing-page origins CORS lets in; empty: none. */
  readonly corsOrigins: readonly string[];
  readonly clock?: () => Date;
  readonly publishTimeoutMs?: number;
  /** Per client IP on every /api route (default LIMITS.perIp). */
  readonly perIp?: Partial<RateLimitOptions>;
  /** Per API key or lead token (default LIMITS.perCredential). */
  readonly perCredential?: Partial<RateLimitOptions>;
  /** When set, /metrics answers only `Authorization: Bearer <token>` (POSTBUS_METRICS_TOKEN); unset: public. */
  readonly metricsToken?: string;
}

/** Limits fixed by the service's contract. */
export const LIMITS = Object.freeze({
  /** A lead is a few fields and a consent text. */
  bodyBytes: 16 * 1024,
  publishTimeoutMs: 3_000,
  retryAfterSeconds: 5,
  perIp: Object.freeze({ perSecond: 5, burst: 30, maxClients: 100_000 }),
  perCredential: Object.freeze({ perSecond: 20, burst: 100, maxClients: 100_000 }),
  idempotencyKeyPattern: '^[\\x21-\\x7E]{1,200}$',
});
