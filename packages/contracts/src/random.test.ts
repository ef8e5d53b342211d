import { describe, expect, it } from 'vitest';
import { pooledRandomBytes as randomBytes } from './random.js';

describe('pooled randomBytes', () => {
  it('hands out each byte once, as copies of the requested size', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      const b = randomBytes(12);
      expect(b.length).toBe(12);
      seen.add(b.toString('hex'));
    }
    expect(seen.size).toBe(5_000);
    const a = randomBytes(16);
    const copy = Buffer.from(a);
    randomBytes(4000); // a refill must not change what was handed out
    expect(a.equals(copy)).toBe(true);
  });

  it('serves large requests directly', () => {
    expect(randomBytes(5_000).length).toBe(5_000);
  });

  it('looks uniform enough: every byte value appears', () => {
    const counts = new Uint32Array(256);
    for (const b of randomBytes(1024)) counts[b]!++;
    for (let i = 0; i < 40; i++) for (const b of randomBytes(1000)) counts[b]!++;
    expect(Math.min(...counts)).toBeGreaterThan(0);
  });
});
