import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressHash, streamName, verifyLeadSignature } from '@postbus/contracts';
import { sql } from '@postbus/db';
import { LeadTokens, parseMasterKeys } from '@postbus/secrets';
import { waitFor } from '@postbus/testing';
import { registerAccount, startWorld, waitUntilSettled, type World } from './fixtures.js';

/** What the sponsor's endpoint saw, attempt by attempt, and the leads it kept (by idempotency key). */
interface Attempt {
  readonly idempotencyKey: string;
  readonly signature: string;
  readonly body: string;
}

/**
 * A sponsor's lead endpoint that fails twice (500), then answers 200 but drops the connection
 * before the answer is complete (the "lost 200": it has the lead, the gateway does not know),
 * then answers 200. It deduplicates by the Idempotency-Key it receives, as a sponsor should.
 */
function flakySponsor(): { server: Server; attempts: Attempt[]; leads: Map<string, unknown>; url: () => string } {
  const attempts: Attempt[] = [];
  const leads = new Map<string, unknown>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const idempotencyKey = String(req.headers['idempotency-key'] ?? '');
      attempts.push({ idempotencyKey, signature: String(req.headers['postbus-signature'] ?? ''), body });
      const n = attempts.length;
      if (n <= 2) {
        res.writeHead(500).end('{"error":"try later"}');
        return;
      }
      if (!leads.has(idempotencyKey)) leads.set(idempotencyKey, JSON.parse(body));
      if (n === 3) {
        // The 200 starts and never finishes: the gateway must not count it.
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"ok":');
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  return { server, attempts, leads, url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}/leads` };
}

const consent = { text: 'I agree to be contacted by Acme about this offer.', time: '2026-11-01T10:00:00Z', source: 'landing:acme-spring' };

describe('sponsor gateway, end to end', () => {
  let w: World;
  let gateway: string;
  const sponsor = flakySponsor();
  beforeAll(async () => {
    await new Promise<void>((resolve) => sponsor.server.listen(0, '127.0.0.1', resolve));
    w = await startWorld({
      users: ['sa'],
      services: ['admin', 'orchestrator', 'sender', 'projector', 'tracking', 'sponsor-gateway'],
      env: {
        POSTBUS_SPONSOR_ALLOW_PRIVATE_ENDPOINTS: '1',
        POSTBUS_SPONSOR_RETRY_BASE_MS: '200',
        POSTBUS_SPONSOR_FORWARD_POLL_MS: '100',
        POSTBUS_SPONSOR_FORWARD_TIMEOUT_MS: '3000',
        POSTBUS_SPONSOR_CORS_ORIGINS: 'https://landing.example',
      },
    });
    gateway = w.platform.sponsorGatewayUrl;
    await waitFor(async () => (await fetch(`${gateway}/readyz`).catch(() => undefined))?.ok === true, { timeoutMs: 20_000, message: `sponsor gateway did not start:\n${w.platform.logs('sponsor-gateway')}` });
    await waitFor(async () => (await fetch(`${w.platform.trackingUrl}/readyz`).catch(() => undefined))?.ok === true, { timeoutMs: 20_000, message: 'tracking did not start' });
  }, 90_000);
  afterAll(async () => {
    await w?.close();
    await new Promise((resolve) => sponsor.server.close(resolve));
  });

  const gw = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
    const res = await fetch(`${gateway}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, any>) : undefined };
  };
  const makeSponsor = async (name: string, endpointUrl: string | null) => {
    const created = await w.admin.request('POST', '/v1/sponsors', { name, endpointUrl });
    expect(created.status).toBe(201);
    const id = created.body.sponsor.id as string;
    const offer = await w.admin.request('POST', `/v1/sponsors/${id}/offers`, { name: `${name} spring`, landingUrl: 'https://landing.example/spring' });
    expect(offer.status).toBe(201);
    const key = await w.admin.request('POST', `/v1/sponsors/${id}/keys`, { label: 'server' });
    expect(key.status).toBe(201);
    return { id, secret: created.body.signingSecret as string, offerId: offer.body.id as string, apiKey: key.body.apiKey as string, keyId: key.body.key.id as string };
  };

  it('a lead reaches the sponsor once, signed, with one idempotency key, through 500, 500 and a lost 200', async () => {
    const a = await makeSponsor('Acme', sponsor.url());
    const auth = { authorization: `Bearer ${a.apiKey}` };
    const lead = { offerId: a.offerId, email: 'Reader@Receiver.TEST', name: 'Rea Der', consent };

    const first = await gw('POST', '/api/sponsors/leads', { ...auth, 'idempotency-key': 'form-1' }, lead);
    expect(first.status).toBe(202);
    expect(first.headers.get('x-content-type-options')).toBe('nosniff');
    const again = await gw('POST', '/api/sponsors/leads', { ...auth, 'idempotency-key': 'form-1' }, lead);
    expect(again).toMatchObject({ status: 200, body: { leadId: first.body!.leadId, replayed: true } });
    const conflicting = await gw('POST', '/api/sponsors/leads', { ...auth, 'idempotency-key': 'form-1' }, { ...lead, name: 'Someone Else' });
    expect(conflicting.status).toBe(409);

    await waitFor(async () => (await w.db.query(sql`SELECT state FROM sponsor_leads WHERE id = ${first.body!.leadId}`))[0]?.state === 'forwarded', {
      timeoutMs: 30_000,
      message: `lead not forwarded:\n${w.platform.logs('sponsor-gateway')}`,
    });
    // The lost 200 made the gateway try once more; the sponsor kept one lead.
    expect(sponsor.attempts.length).toBe(4);
    expect(sponsor.leads.size).toBe(1);
    expect(new Set(sponsor.attempts.map((t) => t.idempotencyKey))).toEqual(new Set([first.body!.leadId]));
    expect(new Set(sponsor.attempts.map((t) => t.body)).size).toBe(1);
    const now = Math.floor(Date.now() / 1000);
    for (const t of sponsor.attempts) expect(verifyLeadSignature(a.secret, t.body, t.signature, now)).toBe(true);
    expect(verifyLeadSignature('whsec_wrong', sponsor.attempts[0]!.body, sponsor.attempts[0]!.signature, now)).toBe(false);
    expect([...sponsor.leads.values()][0]).toMatchObject({ id: first.body!.leadId, offerId: a.offerId, email: 'Reader@receiver.test', name: 'Rea Der', consent });
    // Forwarded: the encrypted copy is gone.
    expect((await w.db.query(sql`SELECT payload, attempts FROM sponsor_leads WHERE id = ${first.body!.leadId}`))[0]).toEqual({ payload: null, attempts: 4 });

    // The log: the lead as a hash, never the address, the key or the secret.
    const stream = streamName(w.ns, 'SPONSORS');
    const events = async () => {
      const last = (await w.bus.jsm.streams.info(stream)).state.last_seq;
      const out: string[] = [];
      for (let seq = 1; seq <= last; seq++) out.push((await w.bus.jsm.streams.getMessage(stream, { seq })).string());
      return out;
    };
    await waitFor(async () => (await events()).some((e) => e.includes('"LeadForwarded"')), { timeoutMs: 10_000 });
    const log = (await events()).join('\n');
    for (const type of ['SponsorCreated', 'OfferCreated', 'SponsorKeyCreated', 'LeadReceived', 'LeadForwarded']) expect(log).toContain(`"${type}"`);
    expect(log).toContain(addressHash('reader@receiver.test').toString('hex'));
    for (const secret of [a.apiKey, a.secret, 'reader@receiver.test', 'Reader@Receiver.TEST', 'Rea Der']) expect(log.toLowerCase()).not.toContain(secret.toLowerCase());
    for (const svc of ['admin', 'sponsor-gateway']) for (const secret of [a.apiKey, a.secret, 'reader@receiver.test']) expect(w.platform.logs(svc).toLowerCase()).not.toContain(secret.toLowerCase());
  });

  it('keys are scoped to their sponsor, listed without the key, and dead once revoked', async () => {
    const a = await makeSponsor('Alpha', null);
    const b = await makeSponsor('Beta', null);
    const offersA = await gw('GET', '/api/sponsors/offers', { authorization: `Bearer ${a.apiKey}` });
    expect(offersA.status).toBe(200);
    expect(offersA.body!.offers.map((o: { id: string }) => o.id)).toEqual([a.offerId]);
    const steal = await gw('POST', '/api/sponsors/leads', { authorization: `Bearer ${a.apiKey}` }, { offerId: b.offerId, email: 'x@receiver.test', consent });
    expect(steal.status).toBe(403);

    const listed = await w.admin.request('GET', `/v1/sponsors/${a.id}/keys`);
    expect(listed.status).toBe(200);
    expect(listed.body.keys).toHaveLength(1);
    expect(JSON.stringify(listed.body)).not.toContain(a.apiKey.slice(18));
    expect(listed.body.keys[0].prefix).toBe(a.apiKey.slice(5, 17));

    expect((await w.admin.request('DELETE', `/v1/sponsors/${a.id}/keys/${a.keyId}`)).status).toBe(200);
    expect((await gw('GET', '/api/sponsors/offers', { authorization: `Bearer ${a.apiKey}` })).status).toBe(401);
    expect((await gw('GET', '/api/sponsors/offers', {})).status).toBe(401);
    expect((await gw('GET', '/api/sponsors/offers', { authorization: 'Bearer pbsk_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' })).status).toBe(401);
    // A sponsor key opens nothing on the admin API (invariant 9).
    expect((await fetch(`${w.platform.adminUrl}/v1/sponsors`, { headers: { authorization: `Bearer ${b.apiKey}` } })).status).toBe(401);
    // Nothing but the sponsor routes on the gateway.
    expect((await gw('GET', '/v1/sponsors', { authorization: `Bearer ${b.apiKey}` })).status).toBe(404);

    // The admin refuses an endpoint that is not https (this world allows private addresses, so only the scheme is checked here).
    const ftp = await w.admin.request('PATCH', `/v1/sponsors/${a.id}`, { endpointUrl: 'ftp://127.0.0.1/leads' });
    expect(ftp.status).toBe(400);

    // Pagination.
    const page1 = await w.admin.request('GET', '/v1/sponsors?limit=1');
    expect(page1.body.sponsors).toHaveLength(1);
    const page2 = await w.admin.request('GET', `/v1/sponsors?limit=1&after=${page1.body.next as string}`);
    expect(page2.body.sponsors[0].id).not.toBe(page1.body.sponsors[0].id);
  });

  it('a click on an offer link carries a lead token good for that recipient and offer only', async () => {
    const a = await makeSponsor('Gamma', null);
    const other = await w.admin.request('POST', `/v1/sponsors/${a.id}/offers`, { name: 'other', landingUrl: 'https://landing.example/other' });
    await registerAccount(w, 'sa', 1_000);
    const sent = await w.admin.request('POST', '/v1/messages', {
      messages: [{ to: 'lead@receiver.test', subject: 'Offer', text: 'See it.', html: `<p><a href="https://landing.example/spring?postbus_offer=${a.offerId}">the offer</a></p>` }],
    });
    expect(sent.status).toBe(202);
    await waitUntilSettled(w, 1, 60_000);
    const [tx] = await w.sink.waitFor((t) => t.some((x) => x.rcptTo.includes('lead@receiver.test')), 30_000);
    const body = tx!.raw.toString('latin1').replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
    const click = /(http:\/\/127\.0\.0\.1:\d+\/track\/click\/[A-Za-z0-9_-]+)/.exec(body)?.[1];
    expect(click).toBeDefined();
    const redirected = await fetch(click!, { redirect: 'manual' });
    expect(redirected.status).toBe(302);
    const location = new URL(redirected.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe('https://landing.example/spring');
    expect(location.searchParams.has('postbus_offer')).toBe(false);
    const token = location.searchParams.get('postbus_lead')!;
    expect(token).toBeTruthy();

    const page = { origin: 'https://landing.example', 'postbus-lead-token': token };
    const preflight = await fetch(`${gateway}/api/sponsors/leads`, { method: 'OPTIONS', headers: { origin: 'https://landing.example', 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://landing.example');
    expect((await fetch(`${gateway}/api/sponsors/leads`, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } })).status).toBe(403);

    const offers = await gw('GET', '/api/sponsors/offers', page);
    expect(offers.body!.offers.map((o: { id: string }) => o.id)).toEqual([a.offerId]);
    expect((await gw('POST', '/api/sponsors/leads', page, { offerId: other.body.id, email: 'lead@receiver.test', consent })).status).toBe(403);
    expect((await gw('POST', '/api/sponsors/leads', page, { email: 'someone-else@receiver.test', consent })).status).toBe(403);
    const accepted = await gw('POST', '/api/sponsors/leads', page, { email: 'lead@receiver.test', consent });
    expect(accepted.status).toBe(202);
    expect(accepted.headers.get('access-control-allow-origin')).toBe('https://landing.example');
    // One lead per token: a second, different lead is refused.
    expect((await gw('POST', '/api/sponsors/leads', page, { email: 'lead@receiver.test', name: 'Again', consent })).status).toBe(409);
    expect((await gw('POST', '/api/sponsors/leads', page, { email: 'lead@receiver.test', consent: { text: 'x', source: 'y' } })).status).toBe(400);

    // Expired: a token made with the platform's keys, one second past its time.
    const tokens = LeadTokens.fromMasterKeys(parseMasterKeys(w.platform.masterKeys), 'k1');
    const expired = tokens.issue({ messageId: 'msg_01J0000000000000000000000A', accountId: 'acc_01J0000000000000000000000A', offerId: a.offerId, recipientHash: addressHash('lead@receiver.test').toString('hex'), expiresAt: Math.floor(Date.now() / 1000) - 1 });
    expect((await gw('POST', '/api/sponsors/leads', { 'postbus-lead-token': expired }, { email: 'lead@receiver.test', consent })).status).toBe(401);
    // A deactivated offer: the token no longer opens it.
    expect((await w.admin.request('PATCH', `/v1/offers/${a.offerId}`, { active: false })).status).toBe(200);
    expect((await gw('GET', '/api/sponsors/offers', page)).status).toBe(403);
  });

  // Last: it empties this client's per-IP bucket.
  it('bounds bodies and rates', async () => {
    const a = await makeSponsor('Delta', null);
    const listed = await w.admin.request('GET', `/v1/sponsors/${a.id}/keys`);
    expect(listed.body.keys[0].lastUsedAt).toBeNull();
    const big = await gw('POST', '/api/sponsors/leads', { authorization: `Bearer ${a.apiKey}` }, { offerId: a.offerId, email: 'x@receiver.test', consent: { ...consent, text: 'x'.repeat(20_000) } });
    expect(big.status).toBe(413);
    expect((await w.admin.request('GET', `/v1/sponsors/${a.id}/keys`)).body.keys[0].lastUsedAt).toBeNull();
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 60; i++) {
      const res = await gw('GET', '/api/sponsors/offers', { authorization: `Bearer ${a.apiKey}` });
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    expect(statuses).toContain(200);
    expect(statuses).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await w.admin.request('GET', `/v1/sponsors/${a.id}/keys`)).body.keys[0].lastUsedAt).not.toBeNull();
  });
});
