export interface RateLimitOptions {
  /** Tokens added per second (the sustained rate). */
  readonly perSecond: number;
  /** Bucket size (the burst a client may make at once). */
  readonly burst: number;
  /** Clients tracked at most; over it the oldest bucket is forgotten (that client starts afresh). */
  readonly maxClients: number;
}

export type Admission = { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms, the caller's monotonic clock). */
  at: number;
}

const ADMITTED: Admission = Object.freeze({ ok: true });

/**
 * A token bucket per client key (an IP), no I/O: time arrives as an argument. Memory is bounded:
 * a bucket idle long enough to be full again is the same as no bucket, so such buckets are
 * swept; `maxClients` caps the rest. Per process: N replicas admit N times the rate, which is
 * fine for what this is (keeping one client from flooding the event log), not a quota.
 */
export class RateLimiter {
  readonly #opts: RateLimitOptions;
  readonly #buckets = new Map<string, Bucket>();
  readonly #refillMs: number;
  readonly #sweepEveryMs: number;
  #lastSweep = 0;

  constructor(opts: RateLimitOptions) {
    if (!(opts.perSecond > 0) || !(opts.burst >= 1) || !(opts.maxClients >= 1)) throw new RangeError('rate limit: perSecond > 0, burst >= 1, maxClients >= 1');
    this.#opts = opts;
    this.#refillMs = (opts.burst / opts.perSecond) * 1000;
    this.#sweepEveryMs = Math.min(Math.max(this.#refillMs, 1_000), 60_000);
  }

  /** Buckets held. */
  get size(): number {
    return this.#buckets.size;
  }

  take(key: string, nowMs: number): Admission {
    this.#sweep(nowMs);
    const { perSecond, burst, maxClients } = this.#opts;
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= maxClients) {
        const oldest = this.#buckets.keys().next();
        if (!oldest.done) this.#buckets.delete(oldest.value);
      }
      bucket = { tokens: burst, at: nowMs };
      this.#buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(burst, bucket.tokens + (Math.max(0, nowMs - bucket.at) * perSecond) / 1000);
      bucket.at = nowMs;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return ADMITTED;
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond)) };
  }

  #sweep(nowMs: number): void {
    if (nowMs - this.#lastSweep < this.#sweepEveryMs) return;
    this.#lastSweep = nowMs;
    for (const [key, bucket] of this.#buckets) {
      if (nowMs - bucket.at >= this.#refillMs) this.#buckets.delete(key);
    }
  }
}
