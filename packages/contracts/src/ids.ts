import { createHash } from 'node:crypto';
import { pooledRandomBytes as randomBytes } from './random.js';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function encodeTime(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[t % 32]! + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function encodeBytes(bytes: Uint8Array, chars: number): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5 && out.length < chars) {
      bits -= 5;
      out += CROCKFORD[(acc >> bits) & 31]!;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** A time-ordered unique id (ULID layout) with a readable prefix, e.g. `msg_01J…`. */
export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  return `${prefix}_${encodeTime(now)}${encodeBytes(randomBytes(10), 16)}`;
}

/**
 * An id derived from its cause, so a retried publish of the same fact carries the same id
 * and JetStream's duplicate window (and the projections) drop it.
 */
export function derivedId(prefix: IdPrefix, ...parts: ReadonlyArray<string | number>): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest();
  return `${prefix}_${encodeBytes(h, 26)}`;
}

export type IdPrefix = 'msg' | 'acc' | 'evt' | 'sec' | 'cmp' | 'req' | 'node' | 'alr' | 'mbx';

/** A campaign id: `cmp_…` for campaigns made by POST /v1/campaigns, or a caller's own tag on a message; a safe subject token either way. */
export const TAG_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
