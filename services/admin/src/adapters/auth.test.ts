import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { TokenService, bearerToken, parseJwtKeys } from './auth.js';

const alice = { userId: 'usr_1', username: 'alice', role: 'operator' as const, tokenVersion: 3 };

describe('TokenService', () => {
  it('verifies its own tokens until they expire', async () => {
    let now = new Date('2030-01-01T00:00:00Z');
    const tokens = new TokenService([{ kid: 'k1', secret: randomBytes(32) }], 900, () => now);
    const { accessToken } = await tokens.issue(alice);
    expect(await tokens.verify(accessToken)).toEqual(alice);
    const header = JSON.parse(Buffer.from(accessToken.split('.')[0]!, 'base64url').toString());
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT', kid: 'k1' });
    now = new Date('2030-01-01T00:15:00Z');
    expect(await tokens.verify(accessToken)).toBeUndefined();
  });

  it('rotates with overlap: the first key signs, every key verifies, a removed key no longer does', async () => {
    const clock = () => new Date();
    const [old, fresh] = [{ kid: 'old', secret: randomBytes(32) }, { kid: 'new', secret: randomBytes(32) }];
    const oldToken = (await new TokenService([old], 900, clock).issue(alice)).accessToken;
    const both = new TokenService([fresh, old], 900, clock);
    expect(await both.verify(oldToken)).toEqual(alice);
    const newToken = (await both.issue(alice)).accessToken;
    expect(JSON.parse(Buffer.from(newToken.split('.')[0]!, 'base64url').toString()).kid).toBe('new');
    const after = new TokenService([fresh], 900, clock);
    expect(await after.verify(newToken)).toEqual(alice);
    expect(await after.verify(oldToken)).toBeUndefined();
  });

  it('refuses a token without typ access, without a role or token version, or with an unknown kid', async () => {
    const secret = randomBytes(32);
    const tokens = new TokenService([{ kid: 'k1', secret }], 900, () => new Date());
    const make = (claims: Record<string, unknown>, kid = 'k1') =>
      new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid }).setSubject('usr_1').setIssuer('postbus').setAudience('postbus-admin').setIssuedAt().setExpirationTime('15m').sign(secret);
    expect(await tokens.verify(await make({ typ: 'access', role: 'admin', name: 'a', ver: 0 }))).toBeDefined();
    expect(await tokens.verify(await make({ typ: 'refresh', role: 'admin', name: 'a', ver: 0 }))).toBeUndefined();
    expect(await tokens.verify(await make({ typ: 'access', role: 'root', name: 'a', ver: 0 }))).toBeUndefined();
    expect(await tokens.verify(await make({ typ: 'access', role: 'admin', name: 'a', ver: 0 }, 'k2'))).toBeUndefined();
    for (const ver of [undefined, '0', -1, 1.5]) expect(await tokens.verify(await make({ typ: 'access', role: 'admin', name: 'a', ver }))).toBeUndefined();
  });

  it('needs a 32-byte key', () => {
    expect(() => new TokenService([{ kid: 'k', secret: new Uint8Array(16) }], 900, () => new Date())).toThrow(/32 bytes/);
  });
});

describe('parseJwtKeys', () => {
  it('reads a plain secret as the key `default`, and kid:secret lists in order', () => {
    const plain = randomBytes(32).toString('base64');
    expect(parseJwtKeys(plain)).toEqual([{ kid: 'default', secret: new TextEncoder().encode(plain) }]);
    const keys = parseJwtKeys('k2:second-secret-second-secret-xx, k1:first-secret-first-secret-first');
    expect(keys.map((k) => k.kid)).toEqual(['k2', 'k1']);
    expect(() => parseJwtKeys('k1:aaaa,k1:bbbb')).toThrow(/twice/);
  });
});

describe('bearerToken', () => {
  it('extracts a compact JWT from a Bearer header only', () => {
    expect(bearerToken('Bearer a.b.c')).toBe('a.b.c');
    expect(bearerToken('bearer a.b.')).toBe('a.b.');
    expect(bearerToken('Basic a.b.c')).toBeUndefined();
    expect(bearerToken('Bearer a.b.c extra')).toBeUndefined();
    expect(bearerToken('Bearer pbr_abc')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});
