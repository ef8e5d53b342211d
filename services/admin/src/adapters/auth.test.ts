import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AdminCredentials, TokenService, bearerToken } from './auth.js';

describe('AdminCredentials', () => {
  it('accepts only the exact user and password', async () => {
    const c = new AdminCredentials('admin', 'a long enough password');
    expect(await c.verify('admin', 'a long enough password')).toBe('admin');
    expect(await c.verify('admin', 'a long enough passwor')).toBeUndefined();
    expect(await c.verify('Admin', 'a long enough password')).toBeUndefined();
  });

  it('refuses to start with a short or missing password', () => {
    expect(() => new AdminCredentials('admin', '')).toThrow(/at least 12/);
  });
});

describe('TokenService', () => {
  it('verifies its own tokens until they expire', async () => {
    let now = new Date('2030-01-01T00:00:00Z');
    const tokens = new TokenService(randomBytes(32), 900, () => now);
    const { accessToken } = await tokens.issue('admin');
    expect(await tokens.verify(accessToken)).toBe('admin');
    now = new Date('2030-01-01T00:15:00Z');
    expect(await tokens.verify(accessToken)).toBeUndefined();
  });

  it('needs a 32-byte key', () => {
    expect(() => new TokenService(new Uint8Array(16), 900, () => new Date())).toThrow(/32 bytes/);
  });
});

describe('bearerToken', () => {
  it('extracts a compact JWT from a Bearer header only', () => {
    expect(bearerToken('Bearer a.b.c')).toBe('a.b.c');
    expect(bearerToken('bearer a.b.')).toBe('a.b.');
    expect(bearerToken('Basic a.b.c')).toBeUndefined();
    expect(bearerToken('Bearer a.b.c extra')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});
