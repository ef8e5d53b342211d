import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limit.js';

describe('RateLimiter', () => {
  it('admits a burst, then refuses with the seconds until the next token', () => {
    const limiter = new RateLimiter({ perSecond: 2, burst: 3, maxClients: 10 });
    expect([1, 2, 3].map(() => limiter.take('a', 0).ok)).toEqual([true, true, true]);
    expect(limiter.take('a', 0)).toEqual({ ok: false, retryAfterSeconds: 1 });
    // Half a second later one token is back.
    expect(limiter.take('a', 500).ok).toBe(true);
    expect(limiter.take('a', 500).ok).toBe(false);
  });

  it('keeps clients apart', () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 1, maxClients: 10 });
    expect(limiter.take('a', 0).ok).toBe(true);
    expect(limiter.take('a', 0).ok).toBe(false);
    expect(limiter.take('b', 0).ok).toBe(true);
  });

  it('a slow rate says so in Retry-After', () => {
    const limiter = new RateLimiter({ perSecond: 0.1, burst: 1, maxClients: 10 });
    limiter.take('a', 0);
    expect(limiter.take('a', 0)).toEqual({ ok: false, retryAfterSeconds: 10 });
  });

  it('never refills above the burst', () => {
    const limiter = new RateLimiter({ perSecond: 10, burst: 2, maxClients: 10 });
    limiter.take('a', 0);
    const later = 3_600_000;
    expect([1, 2, 3].map(() => limiter.take('a', later).ok)).toEqual([true, true, false]);
  });

  it('memory is bounded: idle (full again) buckets are swept, and maxClients caps the rest', () => {
    const limiter = new RateLimiter({ perSecond: 10, burst: 10, maxClients: 100 });
    for (let i = 0; i < 100; i++) limiter.take(`ip${i}`, 0);
    expect(limiter.size).toBe(100);
    limiter.take('newcomer', 10);
    expect(limiter.size).toBe(100);
    // All idle for longer than a refill (1 s): swept on the next call.
    limiter.take('late', 5_000);
    expect(limiter.size).toBe(1);
  });

  it('refuses nonsense limits', () => {
    expect(() => new RateLimiter({ perSecond: 0, burst: 10, maxClients: 1 })).toThrow(RangeError);
    expect(() => new RateLimiter({ perSecond: 1, burst: 0.5, maxClients: 1 })).toThrow(RangeError);
  });
});
