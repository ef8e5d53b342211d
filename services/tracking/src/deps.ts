import type { Bus } from '@postbus/bus';
import type { Database } from '@postbus/db';
import type { LeadTokens, TokenKeyring } from '@postbus/secrets';
import type { Logger } from '@postbus/telemetry';
import type { RateLimitOptions } from '@postbus/contracts';

/** Everything buildTracking needs, built by main.ts (or by a test) — the app reads no config itself. */
export interface TrackingDeps {
  readonly bus: Bus;
  /**
   * The NATS servers of `bus`. When given, opens are decoded and published by a worker thread
   * with a connection of its own (adapters/open-worker.ts), keeping the pixel's event loop for
   * answering; main.ts gives them. Without them, opens are handled on the main thread over `bus`.
   */
  readonly natsServers?: readonly string[];
  readonly db: Database;
  /** Opens open, click and unsubscribe tokens (TokenKeyring.fromMasterKeys). */
  readonly tokens: TokenKeyring;
  /** Issues lead tokens on clicks of offer links (domain/offer-link.ts); without it offer links only lose their marker. */
  readonly leadTokens?: LeadTokens;
  /** How long a lead token is valid (default LIMITS.leadTokenTtlSeconds). */
  readonly leadTokenTtlSeconds?: number;
  readonly log: Logger;
  readonly clock?: () => Date;
  /** How long one publish may wait for JetStream's acknowledgement (default LIMITS.publishTimeoutMs). */
  readonly publishTimeoutMs?: number;
  /** Per client IP on `/track/open/*` and `/track/click/*` (default LIMITS.rateLimit); unsubscribes are never limited. */
  readonly rateLimit?: Partial<RateLimitOptions>;
  /** How opens are batched (defaults LIMITS.openFlushIntervalMs, LIMITS.openBatchSize). */
  readonly openBatch?: { readonly flushIntervalMs?: number; readonly maxBatch?: number };
  /** When set, /metrics answers only `Authorization: Bearer <token>` (POSTBUS_METRICS_TOKEN); unset: public. */
  readonly metricsToken?: string;
}

/** Limits fixed by the service's contract. */
export const LIMITS = Object.freeze({
  /**
   * Longest token per kind, checked before anything else. Derived from the token layout
   * (31 bytes of header, IV and tag; ids of at most 127 bytes; addresses of at most 320 bytes;
   * URLs of at most 4096) in base64url, rounded up.
   */
  tokenChars: { open: 512, click: 6000, unsub: 1200 },
  /** The router's own bound on a path parameter; above the longest token. */
  maxParamLength: 8192,
  /** An unsubscribe POST body is read (to tell one-click from the page) and discarded. */
  unsubscribeBodyBytes: 64 * 1024,
  publishTimeoutMs: 3_000,
  retryAfterSeconds: 5,
  /** Opens buffered or waiting for JetStream at once; above this, new ones are dropped (the pixel is still answered). */
  maxPendingOpens: 20_000,
  /** Opens go out in batches: at most this long after the first one buffered… */
  openFlushIntervalMs: 100,
  /** …or as soon as this many are buffered. */
  openBatchSize: 500,
  /** Clicks being published in the background at once; above this they wait in the outbox for the reconciler. */
  maxPendingClicks: 2_000,
  leadTokenTtlSeconds: 3600,
  /** Longest an offer click waits for its recipient's hash before redirecting without a lead token. */
  recipientLookupTimeoutMs: 500,
  /** Longest a redirect waits for its click's outbox row. */
  clickWriteTimeoutMs: 2_000,
  /** Per client IP on opens and clicks: 20 a second, bursts of 100; idle buckets are evicted. */
  rateLimit: Object.freeze({ perSecond: 20, burst: 100, maxClients: 100_000 }),
});
