import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Keyring,
  SecretError,
  generateMasterKey,
  keyIdOf,
  loadMasterKeyFiles,
  parseMasterKeys,
  type MasterKey,
} from './index.js';

const k1: MasterKey = { id: 'k1', key: randomBytes(32) };
const k2: MasterKey = { id: 'k2', key: randomBytes(32) };
const AAD = 'smtp_password:acc_1';
const SECRET = 'hunter2-very-secret-Ünïcode';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SecretError);
    return (err as SecretError).code;
  }
  return undefined;
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return String((err as Error).message) + String((err as Error).stack);
  }
  throw new Error('expected a throw');
}

describe('Keyring', () => {
  const ring = new Keyring([k1], 'k1');

  it('round-trips, with a fresh IV each time', () => {
    const a = ring.encrypt(SECRET, AAD);
    const b = ring.encrypt(SECRET, AAD);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(a).not.toContain('hunter2');
    expect(ring.decrypt(a, AAD)).toBe(SECRET);
    expect(ring.decrypt(b, AAD)).toBe(SECRET);
    expect(ring.decrypt(ring.encrypt('', AAD), AAD)).toBe('');
  });

  it('fails when any part is tampered with', () => {
    const ct = ring.encrypt(SECRET, AAD);
    const parts = ct.split('.');
    for (const i of [2, 3, 4]) {
      const part = parts[i] as string;
      for (const pos of [0, part.length - 1]) {
        const flipped = part[pos] === 'A' ? 'B' : 'A';
        const copy = [...parts];
        copy[i] = part.slice(0, pos) + flipped + part.slice(pos + 1);
        expect(codeOf(() => ring.decrypt(copy.join('.'), AAD))).toBe('secret_corrupt');
      }
    }
    expect(codeOf(() => ring.decrypt(ct.replace(/^v1/, 'v2'), AAD))).toBe('secret_corrupt');
    expect(codeOf(() => ring.decrypt(ct + '.x', AAD))).toBe('secret_corrupt');
    expect(codeOf(() => ring.decrypt(parts.slice(0, 4).join('.'), AAD))).toBe('secret_corrupt');
    expect(codeOf(() => ring.decrypt('garbage', AAD))).toBe('secret_corrupt');
    expect(codeOf(() => ring.decrypt(ct.replace('.', '.k1!.'), AAD))).toBe('secret_corrupt');
  });

  it('fails with the wrong aad', () => {
    const ct = ring.encrypt(SECRET, AAD);
    expect(codeOf(() => ring.decrypt(ct, 'smtp_password:acc_2'))).toBe('secret_corrupt');
    expect(codeOf(() => ring.decrypt(ct, ''))).toBe('secret_corrupt');
  });

  it('reports an unknown key id', () => {
    const other = new Keyring([k2], 'k2');
    const ct = other.encrypt(SECRET, AAD);
    expect(codeOf(() => ring.decrypt(ct, AAD))).toBe('secret_key_unknown');
  });

  it('fails when the key id is swapped to another live key', () => {
    const both = new Keyring([k1, k2], 'k1');
    const ct = both.encrypt(SECRET, AAD).replace('.k1.', '.k2.');
    expect(codeOf(() => both.decrypt(ct, AAD))).toBe('secret_corrupt');
  });

  it('keeps several keys live and detects rotation', () => {
    const old = new Keyring([k1], 'k1');
    const ctOld = old.encrypt(SECRET, AAD);
    const rotated = new Keyring([k1, k2], 'k2');
    const ctNew = rotated.encrypt(SECRET, AAD);
    expect(keyIdOf(ctNew)).toBe('k2');
    expect(rotated.decrypt(ctOld, AAD)).toBe(SECRET);
    expect(rotated.decrypt(ctNew, AAD)).toBe(SECRET);
    expect(rotated.needsRotation(ctOld)).toBe(true);
    expect(rotated.needsRotation(ctNew)).toBe(false);
    expect(rotated.needsRotation('not a ciphertext')).toBe(true);
    expect(old.needsRotation(ctOld)).toBe(false);
  });

  it('never puts plaintext or key material in error messages', () => {
    const ct = ring.encrypt(SECRET, AAD);
    const forbidden = [SECRET, 'hunter2', k1.key.toString('base64'), k1.key.toString('hex')];
    const messages = [
      messageOf(() => ring.decrypt(ct, 'wrong')),
      messageOf(() => ring.decrypt(ct.slice(0, -3) + 'AAA', AAD)),
      messageOf(() => new Keyring([k2], 'k2').decrypt(ct, AAD)),
    ];
    for (const m of messages) for (const f of forbidden) expect(m).not.toContain(f);
  });

  it('validates its keys', () => {
    expect(codeOf(() => new Keyring([k1], 'k2'))).toBe('secret_key_unknown');
    expect(codeOf(() => new Keyring([{ id: 'k1', key: randomBytes(16) }], 'k1'))).toBe('secret_key_invalid');
    expect(codeOf(() => new Keyring([{ id: 'bad id', key: randomBytes(32) }], 'bad id'))).toBe('secret_key_invalid');
    expect(codeOf(() => new Keyring([k1, { ...k2, id: 'k1' }], 'k1'))).toBe('secret_keyring_invalid');
  });

  it('is not affected by later changes to the caller-owned key buffer', () => {
    const key = randomBytes(32);
    const r = new Keyring([{ id: 'k', key }], 'k');
    const ct = r.encrypt(SECRET, AAD);
    key.fill(0);
    expect(r.decrypt(ct, AAD)).toBe(SECRET);
  });
});

describe('parseMasterKeys', () => {
  const b1 = k1.key.toString('base64');
  const b2 = k2.key.toString('base64');

  it('parses a list of id:key pairs', () => {
    const keys = parseMasterKeys(` k1:${b1} , k2:${b2},`);
    expect(keys.map((k) => k.id)).toEqual(['k1', 'k2']);
    expect(keys[0]?.key.equals(k1.key)).toBe(true);
    expect(keys[1]?.key.equals(k2.key)).toBe(true);
  });

  it('rejects bad input without echoing the key', () => {
    const short = randomBytes(31).toString('base64');
    const cases: Array<[string, string]> = [
      ['', 'secret_keyring_invalid'],
      [b1, 'secret_key_invalid'],
      [`${b1}:k1`, 'secret_key_invalid'],
      [`bad id:${b1}`, 'secret_key_invalid'],
      [`${'x'.repeat(33)}:${b1}`, 'secret_key_invalid'],
      [`k1:${short}`, 'secret_key_invalid'],
      [`k1:${b1}!!`, 'secret_key_invalid'],
      [`k1:${b1},k1:${b2}`, 'secret_keyring_invalid'],
    ];
    for (const [spec, code] of cases) {
      expect(codeOf(() => parseMasterKeys(spec))).toBe(code);
      const msg = messageOf(() => parseMasterKeys(spec));
      for (const secret of [b1, b1.slice(0, 20), short.slice(0, 20)]) expect(msg).not.toContain(secret);
    }
    expect(messageOf(() => parseMasterKeys(`k1:${short}`))).toMatch(/32 bytes, got 31/);
  });
});

describe('loadMasterKeyFiles', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'postbus-keys-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads <id>.key files and ignores others', async () => {
    await writeFile(join(dir, 'k2.key'), `${k2.key.toString('base64')}\n`);
    await writeFile(join(dir, 'k1.key'), k1.key.toString('base64'));
    await writeFile(join(dir, 'README'), 'not a key');
    const keys = await loadMasterKeyFiles(dir);
    expect(keys.map((k) => k.id)).toEqual(['k1', 'k2']);
    expect(keys[1]?.key.equals(k2.key)).toBe(true);
  });

  it('rejects a malformed file and an empty directory', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'postbus-keys-'));
    try {
      await expect(loadMasterKeyFiles(bad)).rejects.toMatchObject({ code: 'secret_keyring_invalid' });
      await writeFile(join(bad, 'k3.key'), randomBytes(8).toString('base64'));
      await expect(loadMasterKeyFiles(bad)).rejects.toMatchObject({ code: 'secret_key_invalid' });
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });
});

describe('generateMasterKey', () => {
  it('returns a usable base64 32-byte key', () => {
    const b64 = generateMasterKey();
    expect(Buffer.from(b64, 'base64')).toHaveLength(32);
    expect(generateMasterKey()).not.toBe(b64);
    const [key] = parseMasterKeys(`gen:${b64}`);
    const ring = new Keyring([key as MasterKey], 'gen');
    expect(ring.decrypt(ring.encrypt('x', 'a'), 'a')).toBe('x');
  });
});
