import { describe, expect, it } from 'vitest';
import { defaultDailyLimit, effectiveDailyLimit } from './limits.js';

describe('limits', () => {
  it('knows the providers’ defaults', () => {
    expect(defaultDailyLimit('gmail')).toBe(2_000);
    expect(defaultDailyLimit('gmail', { workspaceTrial: true })).toBe(500);
    expect(defaultDailyLimit('smtp')).toBe(500);
  });
  it('ramps a warm-up linearly to the daily limit', () => {
    const warmup = { days: 10, startLimit: 50, startedAt: '2026-11-01T00:00:00.000Z' };
    const at = (day: number) => effectiveDailyLimit({ dailyLimit: 1_050, warmup }, new Date(Date.parse(warmup.startedAt) + day * 86_400_000 + 1));
    expect([0, 1, 5, 9, 10, 30].map(at)).toEqual([50, 150, 550, 950, 1_050, 1_050]);
    expect(effectiveDailyLimit({ dailyLimit: 100, warmup: null }, new Date())).toBe(100);
    expect(effectiveDailyLimit({ dailyLimit: 100, warmup: { ...warmup, startLimit: 500 } }, new Date('2026-11-02T00:00:00Z'))).toBe(100);
  });
});
