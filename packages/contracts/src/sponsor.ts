import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';

/**
 * What the admin API and the sponsor gateway share about sponsors: API keys (made by the one,
 * checked by the other), the forwarding-endpoint policy (SSRF) and the lead signature.
 */

// ── API keys: `pbsk_<prefix>_<secret>`; only the prefix and the SHA-256 of the whole key are stored.
const KEY_PREFIX_CHARS = 12;
const API_KEY = /^pbsk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

export interface NewApiKey {
  /** Shown once, to the person who made it. */
  readonly key: string;
  readonly prefix: string;
  readonly hash: Buffer;
}

export function newSponsorApiKey(): NewApiKey {
  const prefix = [...randomBytes(KEY_PREFIX_CHARS)].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
  const key = `pbsk_${prefix}_${randomBytes(32).toString('base64url')}`;
  return { key, prefix, hash: hashSponsorApiKey(key) };
}

export function hashSponsorApiKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/** The prefix of something shaped like a key, or undefined. */
export function sponsorApiKeyPrefix(key: string): string | undefined {
  return API_KEY.exec(key)?.[1];
}

export function sponsorApiKeyMatches(key: string, storedHash: Buffer): boolean {
  const h = hashSponsorApiKey(key);
  return storedHash.length === h.length && timingSafeEqual(h, storedHash);
}

/** A lead-signing secret: 32 random bytes, base64url (shown once). */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

// ── Forwarding endpoints (SSRF): https to a public address, unless private endpoints are allowed (tests).
const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['2001:db8::', 32], ['64:ff9b::', 96]] as const) blocked.addSubnet(net, bits, 'ipv6');

/** Loopback, private, link-local, shared, reserved, documentation or multicast (IPv4-mapped IPv6 judged as IPv4). */
export function isNonPublicAddress(ip: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return blocked.check(mapped[1]!, 'ipv4');
  const family = isIP(ip);
  if (family === 0) return true;
  return blocked.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

export type EndpointVerdict = { readonly ok: true; readonly url: URL } | { readonly ok: false; readonly reason: string };

/**
 * The URL alone: https (http only when private endpoints are allowed), no credentials, and a
 * host that is not a non-public IP literal or `localhost`. Names are resolved and checked again
 * at connection time by the forwarder (a name may point anywhere, and change).
 */
export function checkEndpointUrl(raw: string, allowPrivate: boolean): EndpointVerdict {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'not a URL' };
  }
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:')) return { ok: false, reason: 'must be https' };
  if (url.username || url.password) return { ok: false, reason: 'must not carry credentials' };
  if (allowPrivate) return { ok: true, url };
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local') || host.endsWith('.internal')) return { ok: false, reason: 'private host' };
  if (isIP(host) !== 0 && isNonPublicAddress(host)) return { ok: false, reason: 'private, loopback or link-local address' };
  return { ok: true, url };
}

// ── The signature on every forwarded lead: `Postbus-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>`.
export const SIGNATURE_HEADER = 'postbus-signature';

export function signLead(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** What a sponsor does (and what tests do): recompute, compare in constant time, bound the age. */
export function verifyLeadSignature(secret: string, body: string, header: string, nowSeconds: number, toleranceSeconds = 300): boolean {
  const m = /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(header);
  if (!m) return false;
  const t = Number(m[1]);
  if (Math.abs(nowSeconds - t) > toleranceSeconds) return false;
  const expected = Buffer.from(signLead(secret, body, t).slice(-64), 'hex');
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}
