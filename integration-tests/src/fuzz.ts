import { connect } from 'node:net';

/**
 * The fuzz run's tools (fuzz-api.int.test.ts): a generator of random, malformed and
 * schema-guided requests (driven by @postbus/testing's seededRandom), and a sender that writes
 * each one byte for byte on its own socket.
 */

const NASTY = [
  '', ' ', 'a', 'x'.repeat(5_000), "' OR '1'='1", "'; DROP TABLE accounts; --", '" OR 1=1 --', '1; SELECT pg_sleep(10)', "admin'--",
  '\r\nX-Injected: yes', 'a\r\n\r\nGET / HTTP/1.1', '%0d%0aSet-Cookie: x=1', 'line\nbreak', '\u0000', 'nul\u0000in the middle', '\ud800', 'lone \udfff low',
  '\u202eevil\u202c', '\u200f\u200e', '\ufeffbom', '𝕏𝕐ℤ'.repeat(50), '👩‍👩‍👧‍👦', 'e\u0301\u0301\u0301', 'Ａｄｍｉｎ', '../../../../etc/passwd', '..\\..\\windows\\win.ini',
  '%2e%2e%2f%2e%2e%2f', '%252e%252e%252f', '%00', '%ff%fe', '${jndi:ldap://x/a}', '<script>alert(1)</script>', '{{7*7}}', '__proto__', 'constructor',
  'null', 'NaN', '-1', '1e309', '0x10', 'acc_01J0000000000000000000000A', 'msg_01J0000000000000000000000A', 'x@y', 'a@b.c', '@', 'a'.repeat(300) + '@receiver.test',
  'https://169.254.169.254/latest/meta-data', 'http://[::1]/', 'javascript:alert(1)', '2026-02-30T25:61:61Z', '9999-12-31T23:59:59.999999999Z',
];
const NUMBERS = [0, -1, 1, 1.5, -0.0001, 1e308, -1e308, 2 ** 53 + 1, 2 ** 31, 65536, 10_000_001];
const CONTENT_TYPES = [
  'application/json', 'application/json', 'application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'application/json; charset=latin1',
  'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=zz', 'application/xml', '*/*', 'application/vnd.api+json', 'application/jsonx', '',
];
const ODD_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'FOO'];

/** Percent-encoding that never throws (encodeURIComponent does on a lone surrogate): the UTF-8 bytes Node makes of the text. */
export const enc = (t: string) => [...Buffer.from(t, 'utf8')].map((b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');

/** The part of JSON Schema the OpenAPI document uses. */
export interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
}

export interface Parameter {
  readonly in: string;
  readonly name: string;
  readonly schema?: Schema;
}

export interface Route {
  readonly method: string;
  readonly path: string;
  readonly body?: Schema;
  readonly parameters?: readonly Parameter[];
}

const ULID = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export interface Fuzzed {
  readonly method: string;
  readonly target: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** A body above the service's limit: the server may answer 413 and close before reading it all. */
  readonly huge: boolean;
}

export class Generator {
  constructor(readonly r: () => number) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  text(): string {
    if (this.chance(0.15)) return String.fromCharCode(...Array.from({ length: 1 + this.int(40) }, () => this.int(0x10000)));
    return this.pick(NASTY);
  }
  value(depth = 0): unknown {
    switch (this.int(depth > 3 ? 4 : 7)) {
      case 0: return this.text();
      case 1: return this.pick(NUMBERS);
      case 2: return this.chance(0.5);
      case 3: return null;
      case 4: return Array.from({ length: this.int(4) }, () => this.value(depth + 1));
      case 5: return Object.fromEntries(Array.from({ length: this.int(4) }, () => [this.text().slice(0, 30), this.value(depth + 1)]));
      default: return this.text();
    }
  }
  /** A path parameter: nasty text, percent-encoded or (sometimes) raw. */
  /** A value its schema accepts (mostly): the way past validation into the handlers. */
  valid(s: Schema, key = '', depth = 0): unknown {
    if (s.const !== undefined) return s.const;
    if (s.enum) return this.pick(s.enum);
    const alternatives = s.anyOf ?? s.oneOf;
    if (alternatives) return this.valid(this.pick(alternatives), key, depth);
    const type = Array.isArray(s.type) ? this.pick(s.type) : s.type;
    switch (type) {
      case 'object': {
        const o: Record<string, unknown> = {};
        for (const [k, sub] of Object.entries(s.properties ?? {})) if (s.required?.includes(k) || (depth < 4 && this.chance(0.5))) o[k] = this.valid(sub, k, depth + 1);
        if (!s.properties && typeof s.additionalProperties === 'object' && depth < 4) for (let i = this.int(3); i > 0; i--) o[`X-Fuzz-${this.int(100)}`] = this.valid(s.additionalProperties, key, depth + 1);
        return o;
      }
      case 'array': {
        const n = Math.max(s.minItems ?? 0, Math.min(s.maxItems ?? 3, 1 + this.int(3)));
        return depth < 4 ? Array.from({ length: n }, () => this.valid(s.items ?? {}, key, depth + 1)) : [];
      }
      case 'integer':
      case 'number': {
        const lo = Math.max(s.minimum ?? -1000, -1e6);
        const hi = Math.min(s.maximum ?? 1000, 1e6);
        return lo + this.int(Math.max(1, hi - lo + 1));
      }
      case 'boolean':
        return this.chance(0.5);
      case 'null':
        return null;
      case 'string':
        return this.validString(s, key);
      default:
        return this.value(depth);
    }
  }
  validString(s: Schema, key: string): string {
    if (s.format === 'date-time') return new Date(Date.now() + (this.int(200) - 100) * 3_600_000).toISOString();
    const prefixed = s.pattern ? /^\^([a-z]{3})_/.exec(s.pattern) : null;
    if (prefixed) return `${prefixed[1]!}_${Array.from({ length: 26 }, () => this.pick([...ULID])).join('')}`;
    if (s.pattern === '^[0-9]{6}$') return String(this.int(1e6)).padStart(6, '0');
    if (s.pattern) return this.pick(['a', 'x1', 'spring-sale', '10', 'abc_DEF-1']);
    let t: string;
    if (/address|^to$|email|replyTo|recipient|user/i.test(key)) t = this.chance(0.6) ? `fz-${this.int(1000)}@receiver.test` : this.text();
    else if (/url/i.test(key)) t = this.chance(0.6) ? `https://landing.example/${this.int(100)}` : this.text();
    else if (/host/i.test(key)) t = this.chance(0.6) ? 'smtp.example.com' : this.text();
    else t = this.chance(0.5) ? `fuzz ${this.int(1e6)}` : this.text();
    t = t.slice(0, s.maxLength ?? t.length);
    return t.length < (s.minLength ?? 0) ? t.padEnd(s.minLength ?? 0, 'a') : t;
  }
  /** A valid value with one leaf made wrong: a nasty string, another type, a deep or huge value. */
  mutate(v: unknown): unknown {
    if (v === null || typeof v !== 'object') return this.chance(0.5) ? this.text() : this.value();
    const keys = Object.keys(v);
    if (keys.length === 0 || this.chance(0.15)) return this.value();
    const k = this.pick(keys);
    const copy: Record<string, unknown> = Array.isArray(v) ? ([...v] as unknown as Record<string, unknown>) : { ...(v as Record<string, unknown>) };
    copy[k] = this.mutate(copy[k]);
    return copy;
  }
  param(s?: Schema): string {
    if (s && this.chance(0.5)) return enc(String(this.valid(s)));
    const t = this.text().slice(0, 300);
    if (this.chance(0.2)) return this.pick(['..', '../..', '%2e%2e', '..%2f..%2fetc%2fpasswd', '.', '%00', 'x'.repeat(10_000), '%', '%zz', '%ED%A0%80', '%C0%AF']);
    return this.chance(0.9) ? enc(t) : t;
  }
  query(params: readonly Parameter[] = []): string {
    const declared = params.filter((p) => p.in === 'query');
    if (declared.length > 0 && this.chance(0.5)) {
      const parts = declared.filter(() => this.chance(0.5)).map((p) => `${p.name}=${enc(String(this.chance(0.7) ? this.valid(p.schema ?? {}, p.name) : this.text().slice(0, 100)))}`);
      return parts.length > 0 ? `?${parts.join('&')}` : '';
    }
    if (!this.chance(0.4)) return '';
    const keys = ['limit', 'after', 'q', 'state', 'accountId', 'campaignId', 'recipient', 'from', 'to', 'kind', 'since', 'actor', '__proto__[x]', 'limit'];
    const parts = Array.from({ length: 1 + this.int(4) }, () => `${enc(this.pick(keys))}=${this.chance(0.3) ? String(this.pick(NUMBERS)) : enc(this.text().slice(0, 200))}`);
    return `?${parts.join('&')}`;
  }
  body(schema: Schema | undefined): { body: Buffer; huge: boolean } {
    const keys = Object.keys(schema?.properties ?? {});
    const kind = this.int(20);
    if (kind <= 5 && schema) {
      // Valid, or valid but for one leaf: the handlers see these.
      const v = this.valid(schema);
      return { body: Buffer.from(JSON.stringify(this.chance(0.3) ? v : this.mutate(v))), huge: false };
    }
    if (kind <= 8 && keys.length > 0) {
      // The route's own fields with wrong, odd or missing values.
      const o: Record<string, unknown> = {};
      for (const k of keys) if (this.chance(0.7)) o[k] = this.value();
      if (this.chance(0.2)) o[this.text().slice(0, 20)] = this.value();
      return { body: Buffer.from(JSON.stringify(o)), huge: false };
    }
    if (kind <= 9) return { body: Buffer.from(JSON.stringify(this.value())), huge: false };
    if (kind <= 12) {
      const broken = ['{', '{"a":', '{"a":1,}', '[1,2', '{"a":1}{"b":2}', 'nul', 'tru', '"unterminated', '{"a":"\\ud800"}', '{"a":"\\u0000"}', '{"__proto__":{"isAdmin":true}}',
        '{"constructor":{"prototype":{"x":1}}}', '{"a":1,"a":2}', '\ufeff{}', '1e99999', '-', '{"a":01}', "{'a':1}", '\u0000', '{"a":NaN}'];
      return { body: Buffer.from(this.pick(broken)), huge: false };
    }
    if (kind === 13) {
      // Invalid UTF-8: a lone surrogate and stray continuation bytes as raw bytes.
      return { body: Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xed, 0xa0, 0x80, 0xc0, 0xaf, 0xff, 0x80]), Buffer.from('"}')]), huge: false };
    }
    if (kind <= 15) {
      const n = this.pick([100, 1_000, 10_000, 100_000]);
      return this.chance(0.5) ? { body: Buffer.from('['.repeat(n) + ']'.repeat(n)), huge: false } : { body: Buffer.from('{"a":'.repeat(n) + '1' + '}'.repeat(n)), huge: false };
    }
    if (kind === 16) {
      const size = this.chance(0.1) ? 11 * 1024 * 1024 : this.pick([70_000, 600_000, 1_100_000]);
      return { body: Buffer.from(JSON.stringify({ [keys[0] ?? 'a']: 'x'.repeat(size) })), huge: true };
    }
    return { body: Buffer.alloc(0), huge: false };
  }
  request(route: Route, auth: Record<string, string>): Fuzzed {
    const method = this.chance(0.08) ? this.pick(ODD_METHODS) : route.method;
    let path = route.path.replace(/\{([^}]+)\}/g, (_m, name: string) => this.param(route.parameters?.find((p) => p.in === 'path' && p.name === name)?.schema));
    if (this.chance(0.03)) path = this.pick([`${path}/..`, `${path}/../../..`, `/..${path}`, `${path}%2f..%2f`, `${path}//`, path.toUpperCase(), `${path}\u0000`]);
    const { body, huge } = method === 'GET' || method === 'HEAD' ? (this.chance(0.1) ? this.body(route.body) : { body: Buffer.alloc(0), huge: false }) : this.body(route.body);
    const headers: Record<string, string> = { ...auth };
    const type = this.pick(CONTENT_TYPES);
    if (body.length > 0 && type) headers['content-type'] = type;
    if (this.chance(0.1)) headers['idempotency-key'] = this.text().slice(0, 250);
    if (this.chance(0.03)) headers['x-evil'] = this.pick(['a\rb', 'é', '\u0000']);
    if (this.chance(0.03)) headers.origin = this.pick(['https://evil.example', 'null', 'https://landing.example']);
    return { method, target: path + this.query(route.parameters), headers, body, huge };
  }
}

/** One request on its own connection, written as raw bytes; the status line of the answer, or why there was none. */
export function send(port: number, localAddress: string, req: Fuzzed): Promise<{ status: number | undefined; error?: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(Buffer.concat(chunks).subarray(0, 20).toString('latin1'));
      resolve(m ? { status: Number(m[1]) } : { status: undefined, error: error ?? 'closed without an answer' });
    };
    const timer = setTimeout(() => done('no answer in 15 s'), 15_000);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      // The status line is all this run needs.
      if (Buffer.concat(chunks).includes('\r\n')) done();
    });
    socket.on('error', (err) => done(err.message));
    socket.on('end', () => done());
    socket.on('close', () => done());
    socket.on('connect', () => {
      const head = [`${req.method} ${req.target} HTTP/1.1`, `host: 127.0.0.1:${port}`, 'connection: close', ...Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`)];
      if (req.body.length > 0 || !['GET', 'HEAD'].includes(req.method)) head.push(`content-length: ${req.body.length}`);
      // Header values are written as UTF-8 bytes, whatever they hold.
      socket.write(Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'utf8'), req.body]), () => undefined);
    });
  });
}
