import { describe, expect, it } from 'vitest';
import { judgeAttempt, retryDelayMs } from './lead.js';

describe('forwarding attempts', () => {
  it('given a 2xx, then delivered', () => {
    expect(judgeAttempt({ status: 204 }, 1, 5)).toEqual({ kind: 'delivered', status: 204 });
  });
  it('given a 5xx, 429, 408 or a broken exchange, then retry until the attempts run out', () => {
    expect(judgeAttempt({ status: 500 }, 1, 5).kind).toBe('retry');
    expect(judgeAttempt({ status: 429 }, 1, 5).kind).toBe('retry');
    expect(judgeAttempt({ status: 408 }, 1, 5).kind).toBe('retry');
    expect(judgeAttempt({ error: 'response interrupted' }, 4, 5).kind).toBe('retry');
    expect(judgeAttempt({ error: 'response interrupted' }, 5, 5).kind).toBe('give_up');
  });
  it('given another 4xx, then give up at once', () => {
    expect(judgeAttempt({ status: 400 }, 1, 5)).toEqual({ kind: 'give_up', reason: 'http 400' });
  });
  it('backs off exponentially, capped at an hour, with bounded jitter', () => {
    expect(retryDelayMs(1, 1000, 0.5)).toBe(1000);
    expect(retryDelayMs(3, 1000, 0.5)).toBe(4000);
    expect(retryDelayMs(30, 1000, 0.5)).toBe(3_600_000);
    expect(retryDelayMs(2, 1000, 0)).toBe(1600);
    expect(retryDelayMs(2, 1000, 0.999)).toBeLessThanOrEqual(2400);
  });
});
