import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
let pool = Buffer.allocUnsafe(0);
let offset = 0;

/**
 * `crypto.randomBytes(n)` for the hot paths (ids, token IVs, MIME boundaries): the same
 * CSPRNG, filled 4 KiB at a time. Each call to the kernel's generator costs a system call
 * (about 5 µs on this machine's VM), and a message used to make four of them. Every byte is
 * handed out once; the result is a copy the caller owns.
 */
export function pooledRandomBytes(n: number): Buffer {
  if (n > POOL_BYTES / 4) return randomFillSync(Buffer.allocUnsafe(n));
  if (offset + n > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    offset = 0;
  }
  const out = Buffer.from(pool.subarray(offset, offset + n));
  pool.fill(0, offset, offset + n);
  offset += n;
  return out;
}
