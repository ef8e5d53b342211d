/**
 * The binary payload inside a tracking token. Binary rather than JSON because every byte here
 * is paid for in every tracked link of every message (base64url adds a third): JSON's field
 * names, quotes and the 26-character ULIDs as text would roughly double an open token.
 *
 * Strings are length-prefixed. Ids of our own shape (`msg_` + 26 Crockford characters) are
 * packed into 17 bytes instead of 31; anything else is stored as it is, so a caller's id of
 * another shape still round-trips exactly.
 */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CROCKFORD_VALUE = new Map([...CROCKFORD].map((c, i) => [c, i] as const));
const PACKABLE_ID = /^([a-z]{1,8})_([0-9A-HJKMNP-TV-Z]{26})$/;
const PACKED_BYTES = 17; // 26 × 5 = 130 bits
const PACKED_FLAG = 0x80;
/** The 130 bits sit at the bottom of the 136: the top 6 are zero. */
const PAD_BITS = PACKED_BYTES * 8 - 26 * 5;

/** 26 Crockford characters → 17 bytes, big-endian, with plain numbers (a bit buffer under 2^13). */
function pack(body: string): Buffer {
  const out = Buffer.alloc(PACKED_BYTES);
  let acc = 0;
  let bits = PAD_BITS;
  let pos = 0;
  for (const c of body) {
    acc = (acc << 5) | (CROCKFORD_VALUE.get(c) as number);
    bits += 5;
    while (bits >= 8) {
      bits -= 8;
      out[pos++] = (acc >> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

function unpack(packed: Buffer): string {
  let acc = 0;
  let bits = -PAD_BITS;
  let body = '';
  for (const b of packed) {
    acc = ((acc << 8) | b) & 0x1fff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      body += CROCKFORD[(acc >> bits) & 31] as string;
    }
  }
  return body;
}

/** Thrown only inside this module's readers; the token layer turns it into `token_invalid`. */
export class PayloadError extends Error {}

export class PayloadWriter {
  readonly #chunks: Buffer[] = [];

  /** An id: at most 127 bytes, or any length when it packs. */
  id(value: string): this {
    const m = PACKABLE_ID.exec(value);
    if (m) {
      const prefix = m[1] as string;
      this.#chunks.push(Buffer.from([PACKED_FLAG | prefix.length]), Buffer.from(prefix, 'ascii'), pack(m[2] as string));
      return this;
    }
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length === 0 || bytes.length >= PACKED_FLAG) throw new PayloadError('id length out of range');
    this.#chunks.push(Buffer.from([bytes.length]), bytes);
    return this;
  }

  /** A string of any length (LEB128 length prefix). */
  string(value: string): this {
    const bytes = Buffer.from(value, 'utf8');
    this.#chunks.push(varint(bytes.length), bytes);
    return this;
  }

  /** An unsigned 32-bit integer (LEB128). */
  uint(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new PayloadError('uint out of range');
    this.#chunks.push(varint(value));
    return this;
  }

  bytes(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}

export class PayloadReader {
  readonly #buf: Buffer;
  #pos = 0;

  constructor(buf: Buffer) {
    this.#buf = buf;
  }

  get done(): boolean {
    return this.#pos === this.#buf.length;
  }

  id(): string {
    const head = this.#byte();
    if ((head & PACKED_FLAG) === 0) return this.#take(head).toString('utf8');
    const prefix = this.#take(head & ~PACKED_FLAG).toString('ascii');
    return `${prefix}_${unpack(this.#take(PACKED_BYTES))}`;
  }

  string(): string {
    let length = 0;
    for (let shift = 0; ; shift += 7) {
      if (shift > 21) throw new PayloadError('length too long');
      const b = this.#byte();
      length |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
    }
    return this.#take(length).toString('utf8');
  }

  uint(): number {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      if (shift > 28) throw new PayloadError('uint too long');
      const b = this.#byte();
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
    }
    if (value > 0xffffffff) throw new PayloadError('uint out of range');
    return value;
  }

  end(): void {
    if (!this.done) throw new PayloadError('trailing bytes');
  }

  #byte(): number {
    const b = this.#buf[this.#pos];
    if (b === undefined) throw new PayloadError('truncated');
    this.#pos++;
    return b;
  }

  #take(n: number): Buffer {
    if (n === 0 || this.#pos + n > this.#buf.length) throw new PayloadError('truncated');
    const out = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}
