import { createHash, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SecretError, TokenKeyring, type MasterKey, type TokenKind, type TokenPayloads } from './index.js';

const k1: MasterKey = { id: 'k1', key: randomBytes(32) };
const k2: MasterKey = { id: 'k2', key: randomBytes(32) };
const ring = new TokenKeyring([k1], 'k1');

const messageId = 'msg_01J9ZXQ8K2M4N6P8R0T2V4X6Z8';
const accountId = 'acc_01J9ZXQ8K2M4N6P8R0T2V4X6Z9';
const samples: { [K in TokenKind]: TokenPayloads[K] } = {
  open: { messageId, accountId },
  click: { messageId, accountId, url: 'https://shop.example.com/p?id=42&utm_source=mail#top' },
  unsub: { messageId, accountId, address: 'ann.reader@example.org', campaignId: 'spring-sale_2024' },
};
const KINDS = Object.keys(samples) as TokenKind[];

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SecretError);
    return (err as SecretError).code;
  }
  return undefined;
}

describe('TokenKeyring', () => {
  it('round-trips every kind, with a fresh IV each time', () => {
    for (const kind of KINDS) {
      const a = ring.issue(kind, samples[kind]);
      expect(a).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(ring.issue(kind, samples[kind])).not.toBe(a);
      expect(ring.open(kind, a)).toEqual({ ok: true, kind, payload: samples[kind], keyId: 'k1' });
    }
    const noCampaign = { messageId, accountId, address: 'a@example.org' };
    expect(ring.open('unsub', ring.issue('unsub', noCampaign))).toMatchObject({ ok: true, payload: noCampaign });
  });

  it('carries a click’s issue time when given, and still opens click tokens without one', () => {
    const timed = { ...samples.click, issuedAt: 1_780_000_000 };
    expect(ring.open('click', ring.issue('click', timed))).toMatchObject({ ok: true, payload: timed });
    expect(ring.open('click', ring.issue('click', { ...samples.click, issuedAt: 0xffffffff }))).toMatchObject({ ok: true, payload: { issuedAt: 0xffffffff } });
    const plain = ring.open('click', ring.issue('click', samples.click));
    expect(plain.ok && 'issuedAt' in plain.payload).toBe(false);
    expect(codeOf(() => ring.issue('click', { ...samples.click, issuedAt: -1 }))).toBe('token_payload_invalid');
    expect(codeOf(() => ring.issue('click', { ...samples.click, issuedAt: 1.5 }))).toBe('token_payload_invalid');
  });

  it('round-trips ids of other shapes and non-ASCII addresses', () => {
    const payload = { messageId: 'msg_1', accountId: 'ACC_01J9ZXQ8K2M4N6P8R0T2V4X6Z8', address: 'zoë@bücher.example', campaignId: 'c' };
    expect(ring.open('unsub', ring.issue('unsub', payload))).toMatchObject({ ok: true, payload });
  });

  it('is compact and reveals nothing in clear', () => {
    const open = ring.issue('open', samples.open);
    expect(open.length).toBe(98);
    const click = ring.issue('click', samples.click);
    expect(click.length).toBeLessThan(98 + Math.ceil((samples.click.url.length * 4) / 3) + 4);
    for (const kind of KINDS) {
      const raw = Buffer.from(ring.issue(kind, samples[kind]), 'base64url').toString('latin1');
      for (const leak of ['msg_', '01J9ZX', 'shop.example', 'ann.reader', 'spring']) expect(raw).not.toContain(leak);
    }
  });

  it('rejects a token with any byte changed', () => {
    for (const kind of KINDS) {
      const bytes = Buffer.from(ring.issue(kind, samples[kind]), 'base64url');
      for (let i = 0; i < bytes.length; i++) {
        const copy = Buffer.from(bytes);
        copy[i] = (copy[i] as number) ^ 0x01;
        const result = ring.open(kind, copy.toString('base64url'));
        expect(result.ok).toBe(false);
        // The version and key id are checked before decrypting; the rest fails authentication.
        const expected = i === 0 ? 'token_malformed' : i < 3 ? 'token_unknown_key' : 'token_invalid';
        expect(result).toEqual({ ok: false, code: expected });
      }
    }
  });

  it('rejects non-canonical, truncated, extended and junk text as malformed', () => {
    const token = ring.issue('open', samples.open);
    const last = token.at(-1) as string;
    const sibling = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(last) ^ 1;
    // 98 characters carry 73 bytes and 2 spare bits: flipping a spare bit decodes to the same bytes.
    const canonicalTwin = token.slice(0, -1) + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[sibling];
    expect(Buffer.from(canonicalTwin, 'base64url').equals(Buffer.from(token, 'base64url'))).toBe(true);
    const cases = [canonicalTwin, '', 'x', token.slice(0, 40), `${token}=`, `${token}.x`, token.replace(/.$/, '+'), 'A'.repeat(7000)];
    for (const bad of cases) expect(ring.open('open', bad)).toEqual({ ok: false, code: 'token_malformed' });
    const bytes = Buffer.from(token, 'base64url');
    const shorter = bytes.subarray(0, -3).toString('base64url');
    const longer = Buffer.concat([bytes, Buffer.alloc(3)]).toString('base64url');
    expect(ring.open('open', shorter)).toEqual({ ok: false, code: 'token_invalid' });
    expect(ring.open('open', longer)).toEqual({ ok: false, code: 'token_invalid' });
    expect(ring.open('open', 42 as unknown as string)).toEqual({ ok: false, code: 'token_malformed' });
    expect(ring.open('nope' as TokenKind, token)).toEqual({ ok: false, code: 'token_malformed' });
  });

  it('rejects a token opened as another kind', () => {
    for (const kind of KINDS) {
      const token = ring.issue(kind, samples[kind]);
      for (const other of KINDS.filter((k) => k !== kind)) {
        expect(ring.open(other, token)).toEqual({ ok: false, code: 'token_invalid' });
      }
    }
  });

  it('rotates: the new key issues, the old key still opens, a dropped key is unknown', () => {
    const old = new TokenKeyring([k1], 'k1');
    const oldToken = old.issue('unsub', samples.unsub);
    const rotated = new TokenKeyring([k1, k2], 'k2');
    const newToken = rotated.issue('unsub', samples.unsub);
    expect(rotated.open('unsub', oldToken)).toMatchObject({ ok: true, keyId: 'k1', payload: samples.unsub });
    expect(rotated.open('unsub', newToken)).toMatchObject({ ok: true, keyId: 'k2', payload: samples.unsub });
    expect(old.open('unsub', newToken)).toEqual({ ok: false, code: 'token_unknown_key' });
    expect(new TokenKeyring([k2], 'k2').open('unsub', oldToken)).toEqual({ ok: false, code: 'token_unknown_key' });
    // Same name, other bytes (a key regenerated by mistake): authentication fails.
    const impostor = new TokenKeyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
    expect(impostor.open('unsub', oldToken)).toEqual({ ok: false, code: 'token_invalid' });
  });

  it('derives token keys from master keys with HKDF, not the master keys themselves', () => {
    const derived = TokenKeyring.fromMasterKeys([k1, k2], 'k1');
    const again = TokenKeyring.fromMasterKeys([k2, k1], 'k2');
    const token = derived.issue('click', samples.click);
    expect(again.open('click', token)).toMatchObject({ ok: true, keyId: 'k1' });
    expect(ring.open('click', token)).toEqual({ ok: false, code: 'token_invalid' });
    expect(derived.keyIds).toEqual(['k1', 'k2']);
  });

  it('refuses payloads it could not carry safely, without echoing them', () => {
    const cases: Array<[TokenKind, object]> = [
      ['open', { messageId: '', accountId }],
      ['open', { messageId: 'x'.repeat(128), accountId }],
      ['open', { messageId: 'msg 1', accountId }],
      ['open', { messageId, accountId: undefined }],
      ['click', { messageId, accountId, url: 'javascript:alert(1)' }],
      ['click', { messageId, accountId, url: 'https://e.example/a\r\nSet-Cookie: x=1' }],
      ['click', { messageId, accountId, url: 'https://e.example/a b' }],
      ['click', { messageId, accountId, url: `https://e.example/${'a'.repeat(4100)}` }],
      ['unsub', { messageId, accountId, address: '' }],
      ['unsub', { messageId, accountId, address: 'secret-person@example.org\n' }],
      ['unsub', { messageId, accountId, address: 'a@example.org', campaignId: 'x y' }],
    ];
    for (const [kind, payload] of cases) {
      const issue = (): string => ring.issue(kind, payload as TokenPayloads[typeof kind]);
      expect(codeOf(issue)).toBe('token_payload_invalid');
      try {
        issue();
      } catch (err) {
        expect((err as Error).message).not.toMatch(/secret-person|javascript|Set-Cookie/);
      }
    }
    const longest = ring.issue('click', { ...samples.click, url: `https://e.example/${'a'.repeat(4096 - 18)}` });
    expect(longest.length).toBeLessThan(6000);
    expect(ring.open('click', longest).ok).toBe(true);
  });

  it('never shows key material in errors, inspection or JSON', () => {
    const forbidden = [k1.key.toString('base64'), k1.key.toString('hex'), k1.key.toString('base64url')];
    const texts: string[] = [inspect(ring, { showHidden: true, depth: 5 }), JSON.stringify(ring)];
    for (const fn of [
      () => new TokenKeyring([{ id: 'k1', key: k1.key.subarray(0, 31) }], 'k1'),
      () => new TokenKeyring([k1], 'k9'),
      () => new TokenKeyring([{ id: k1.key.toString('base64'), key: k1.key }], 'x'),
      () => TokenKeyring.fromMasterKeys([{ id: 'k1', key: k1.key.subarray(0, 16) }], 'k1'),
      () => ring.issue('click', { messageId, accountId, url: k1.key.toString('hex') }),
    ]) {
      try {
        fn();
        throw new Error('expected a throw');
      } catch (err) {
        expect(err).toBeInstanceOf(SecretError);
        texts.push(`${(err as Error).message} ${(err as Error).stack ?? ''}`);
      }
    }
    for (const t of texts) for (const f of forbidden) expect(t).not.toContain(f);
  });

  it('refuses two key names that would share a wire id', () => {
    const wire = (id: string): number => createHash('sha256').update(`postbus-token-key\u0000${id}`).digest().readUInt16BE(0);
    // Found by searching k0, k2, k3, …: the first name whose two-byte wire id equals k1's.
    const twin = 'k76225';
    expect(wire(twin)).toBe(wire('k1'));
    expect(codeOf(() => new TokenKeyring([k1, { id: twin, key: randomBytes(32) }], 'k1'))).toBe('secret_keyring_invalid');
  });

  it('validates its keys', () => {
    expect(codeOf(() => new TokenKeyring([k1], 'k2'))).toBe('secret_key_unknown');
    expect(codeOf(() => new TokenKeyring([{ id: 'k1', key: randomBytes(16) }], 'k1'))).toBe('secret_key_invalid');
    expect(codeOf(() => new TokenKeyring([{ id: 'bad id', key: randomBytes(32) }], 'bad id'))).toBe('secret_key_invalid');
    expect(codeOf(() => new TokenKeyring([k1, { ...k2, id: 'k1' }], 'k1'))).toBe('secret_keyring_invalid');
  });

  it('is rebuilt in a worker thread from forWorkerThread: every key opens as before, the current one issues', () => {
    const rotated = TokenKeyring.fromMasterKeys([k1, k2], 'k2');
    const oldToken = TokenKeyring.fromMasterKeys([k1], 'k1').issue('open', samples.open);
    // As workerData arrives: a structured clone, the Buffers turned into Uint8Arrays.
    const data = structuredClone(rotated.forWorkerThread());
    const copy = new TokenKeyring(data.keys.map(({ id, key }) => ({ id, key: Buffer.from(key) })), data.currentKeyId);
    expect(copy.currentKeyId).toBe('k2');
    expect(copy.open('open', oldToken)).toMatchObject({ ok: true, keyId: 'k1' });
    expect(rotated.open('open', copy.issue('open', samples.open))).toMatchObject({ ok: true, keyId: 'k2', payload: samples.open });
    // Copies: changing them changes nothing in the keyring.
    for (const { key } of rotated.forWorkerThread().keys) key.fill(0);
    expect(rotated.open('open', oldToken).ok).toBe(true);
  });

  it('is not affected by later changes to the caller-owned key buffer', () => {
    const key = randomBytes(32);
    const r = new TokenKeyring([{ id: 'k', key }], 'k');
    const token = r.issue('open', samples.open);
    key.fill(0);
    expect(r.open('open', token).ok).toBe(true);
  });
});
