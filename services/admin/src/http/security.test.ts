import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { TokenService } from '../adapters/auth.js';
import { registerSecurity, routeCatalogue } from './security.js';

/** The access hook alone, on a bare fastify: a route the policy has no rule for lets nobody in. */
describe('registerSecurity', () => {
  it('fails closed for a method without a decision, and honours config.roles and config.public', async () => {
    const tokens = new TokenService([{ kid: 'k', secret: randomBytes(32) }], 900, () => new Date());
    const app = Fastify();
    // Every user as its token says (the per-request user check is UserSessions', tested against Postgres in auth-flows).
    registerSecurity(app, { tokens, sessions: { check: async (p) => p } });
    app.route({ method: 'OPTIONS', url: '/v1/odd', handler: async () => ({ ok: true }) });
    app.post('/v1/open', { config: { public: true } }, async () => ({ ok: true }));
    app.post('/v1/mine', { config: { roles: ['viewer'] } }, async () => ({ ok: true }));
    await app.ready();
    const as = async (role: 'viewer' | 'operator' | 'admin') => ({ authorization: `Bearer ${(await tokens.issue({ userId: 'usr_1', username: 'u', role, tokenVersion: 0 })).accessToken}` });

    expect(routeCatalogue(app).find((r) => r.url === '/v1/odd')?.access).toEqual([]);
    expect((await app.inject({ method: 'OPTIONS', url: '/v1/odd', headers: await as('admin') })).statusCode).toBe(403);
    expect((await app.inject({ method: 'POST', url: '/v1/open' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/v1/mine', headers: await as('viewer') })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/v1/mine', headers: await as('admin') })).statusCode).toBe(403);
    await app.close();
  });
});
