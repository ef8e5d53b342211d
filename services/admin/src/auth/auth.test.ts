import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from './password.js';
import { FailureWindow } from './rate-limit.js';
import { allowedRoles, atLeast } from './roles.js';
import { base32, hotp, matchTotp, otpauthUri } from './totp.js';

describe('passwords', () => {
  it('scrypt N=2^15 r=8 p=1 with its parameters and a salt per hash', async () => {
    const a = await hashPassword('a long enough password');
    const b = await hashPassword('a long enough password');
    expect(a).toMatch(/^scrypt\$15\$8\$1\$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('a long enough password', a)).toBe(true);
    expect(await verifyPassword('a long enough passwor', a)).toBe(false);
    expect(await verifyPassword('a long enough password', 'garbage')).toBe(false);
  });
});

describe('TOTP (RFC 6238 test vectors, SHA-1)', () => {
  const secret = Buffer.from('12345678901234567890');
  it('matches the RFC codes (last 6 digits)', () => {
    expect(hotp(secret, Math.floor(59 / 30))).toBe('287082');
    expect(hotp(secret, Math.floor(1111111109 / 30))).toBe('081804');
    expect(hotp(secret, Math.floor(2000000000 / 30))).toBe('279037');
  });
  it('accepts one step of drift either way and no more', () => {
    const at = new Date(1111111109_000);
    const step = Math.floor(1111111109 / 30);
    expect(matchTotp(secret, '081804', at)).toBe(step);
    expect(matchTotp(secret, hotp(secret, step + 1), at)).toBe(step + 1);
    expect(matchTotp(secret, hotp(secret, step - 1), at)).toBe(step - 1);
    expect(matchTotp(secret, hotp(secret, step + 2), at)).toBeUndefined();
    expect(matchTotp(secret, 'abcdef', at)).toBeUndefined();
  });
  it('writes an otpauth URI with the base32 secret', () => {
    expect(base32(Buffer.from('foobar'))).toBe('MZXW6YTBOI');
    expect(otpauthUri(secret, 'alice')).toBe(`otpauth://totp/Postbus:alice?secret=${base32(secret)}&issuer=Postbus&algorithm=SHA1&digits=6&period=30`);
  });
});

describe('FailureWindow', () => {
  it('blocks after max failures until the oldest leaves the window', () => {
    const w = new FailureWindow(3, 1000);
    for (const t of [0, 100, 200]) w.fail('k', t);
    expect(w.blockedFor('k', 300)).toBe(700);
    expect(w.blockedFor('other', 300)).toBe(0);
    expect(w.blockedFor('k', 1000)).toBe(0);
    w.clear('k');
    expect(w.blockedFor('k', 300)).toBe(0);
  });
});

describe('allowedRoles', () => {
  it('reads → viewer and up, writes → operator and up, admin-only paths, else nobody', () => {
    expect(allowedRoles('GET', '/v1/accounts/', undefined)).toEqual(['viewer', 'operator', 'admin']);
    expect(allowedRoles('POST', '/v1/accounts/', undefined)).toEqual(['operator', 'admin']);
    expect(allowedRoles('PATCH', '/v1/config', undefined)).toEqual(['admin']);
    expect(allowedRoles('DELETE', '/v1/suppressions/:addressHash', undefined)).toEqual(['admin']);
    expect(allowedRoles('POST', '/v1/sponsors/:id/keys', undefined)).toEqual(['admin']);
    expect(allowedRoles('GET', '/v1/users/', undefined)).toEqual(['admin']);
    expect(allowedRoles('PUT', '/v1/accounts/:id/dkim', undefined)).toEqual(['admin']);
    expect(allowedRoles('OPTIONS', '/v1/accounts/', undefined)).toEqual([]);
    expect(allowedRoles('POST', '/v1/anything', { roles: atLeast('viewer') })).toEqual(['viewer', 'operator', 'admin']);
  });
});
