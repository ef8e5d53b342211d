import { insertLead, leadPayloadAad, markLeadFailed, markLeadForwarded, sql } from '@postbus/db';
import { newSponsorScopedId } from '@postbus/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../test/harness.js';

/** GET /v1/leads/failed and POST /v1/leads/:id/retry: operators and admins, cursor pages, audited, never a lead's content. */
let h: Harness;
let admin: { authorization: string };
let operator: { authorization: string };
let viewer: { authorization: string };
const sponsors: string[] = [];
const failed: string[] = [];

async function userHeader(username: string, role: 'viewer' | 'operator') {
  const password = `${username} password, long enough`;
  expect((await h.app.inject({ method: 'POST', url: '/v1/users', headers: admin, payload: { username, password, role } })).statusCode).toBe(201);
  const res = await h.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { username, password } });
  return { authorization: `Bearer ${res.json<{ accessToken: string }>().accessToken}` };
}

beforeAll(async () => {
  h = await startHarness();
  admin = await h.authHeader();
  operator = await userHeader('leads-operator', 'operator');
  viewer = await userHeader('leads-viewer', 'viewer');
  for (const name of ['First', 'Second']) {
    const res = await h.app.inject({ method: 'POST', url: '/v1/sponsors', headers: admin, payload: { name, endpointUrl: null } });
    expect(res.statusCode, res.body).toBe(201);
    sponsors.push(res.json<{ sponsor: { id: string } }>().sponsor.id);
  }
  // Leads as the gateway stores them: three failed of the first sponsor, one of the second, one pending, one forwarded.
  for (const [i, sponsorId] of sponsors.entries()) {
    const offer = await h.app.inject({ method: 'POST', url: `/v1/sponsors/${sponsorId}/offers`, headers: admin, payload: { name: 'Offer', landingUrl: 'https://landing.example/o' } });
    const offerId = offer.json<{ id: string }>().id;
    const count = i === 0 ? 5 : 1;
    for (let n = 0; n < count; n++) {
      const id = newSponsorScopedId('led', Date.now());
      const body = JSON.stringify({ id, email: `reader${n}@example.org`, consent: { text: 'I agree', time: '2026-01-01T00:00:00Z', source: 'test' } });
      await insertLead(h.db, { id, sponsorId, offerId, scope: `sponsor:${sponsorId}`, idempotencyKey: `k${n}`, requestHash: `h${n}`, payload: h.keyring.encrypt(body, leadPayloadAad(id)), receivedAt: new Date(Date.now() + n) });
      await h.db.query(sql`UPDATE sponsor_leads SET attempts = 3 WHERE id = ${id}`);
      if (n === 3) continue; // pending
      if (n === 4) await markLeadForwarded(h.db, id, new Date());
      else {
        await markLeadFailed(h.db, id, 'http 503 (after 3 attempts)');
        failed.push(id);
      }
    }
  }
});
afterAll(async () => {
  await h?.close();
});

describe('failed lead forwards', () => {
  it('lists them newest first, a page at a time, optionally of one sponsor; never the lead itself', async () => {
    const all = await h.app.inject({ method: 'GET', url: '/v1/leads/failed', headers: operator });
    expect(all.statusCode, all.body).toBe(200);
    const leads = all.json<{ leads: Array<Record<string, unknown>>; next: string | null }>();
    expect(leads.leads.map((l) => l.id).sort()).toEqual([...failed].sort());
    expect(leads.next).toBeNull();
    expect(leads.leads[0]).toMatchObject({ state: 'failed', attempts: 3, lastError: 'http 503 (after 3 attempts)' });
    expect(Object.keys(leads.leads[0]!).sort()).toEqual(['attempts', 'id', 'lastError', 'nextAttemptAt', 'offerId', 'receivedAt', 'sponsorId', 'state']);
    expect(all.body).not.toContain('@example.org');
    expect(all.body).not.toContain('I agree');

    const seen: string[] = [];
    let after: string | null = null;
    do {
      const res = await h.app.inject({ method: 'GET', url: `/v1/leads/failed?sponsorId=${sponsors[0]}&limit=1${after ? `&after=${after}` : ''}`, headers: operator });
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json<{ leads: Array<{ id: string; sponsorId: string }>; next: string | null }>();
      expect(page.leads.length).toBeLessThanOrEqual(1);
      for (const l of page.leads) expect(l.sponsorId).toBe(sponsors[0]);
      seen.push(...page.leads.map((l) => l.id));
      after = page.next;
    } while (after);
    expect(seen).toHaveLength(3);
    expect(seen).toEqual(leads.leads.filter((l) => l.sponsorId === sponsors[0]).map((l) => l.id));

    expect((await h.app.inject({ method: 'GET', url: '/v1/leads/failed?after=bm9wZQ', headers: operator })).json()).toMatchObject({ status: 400, code: 'invalid_cursor' });
    expect((await h.app.inject({ method: 'GET', url: '/v1/leads/failed?sponsorId=nope', headers: operator })).json()).toMatchObject({ status: 400, code: 'invalid_request' });
  });

  it('retries one: back in the outbox, due now, with a fresh round; audited; a second retry is a 409', async () => {
    const id = failed[0]!;
    const before = Date.now();
    const res = await h.app.inject({ method: 'POST', url: `/v1/leads/${id}/retry`, headers: operator });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ id, state: 'pending', attempts: 3 });
    const [row] = await h.db.query(sql`SELECT state, attempts, round_start_attempts, next_attempt_at, payload FROM sponsor_leads WHERE id = ${id}`);
    expect(row).toMatchObject({ state: 'pending', attempts: 3, round_start_attempts: 3 });
    expect((row!.next_attempt_at as Date).getTime()).toBeGreaterThanOrEqual(before - 1_000);
    expect((row!.next_attempt_at as Date).getTime()).toBeLessThanOrEqual(Date.now());
    expect(row!.payload).not.toBeNull();

    const again = await h.app.inject({ method: 'POST', url: `/v1/leads/${id}/retry`, headers: operator });
    expect(again.json()).toMatchObject({ status: 409, code: 'lead_not_failed' });
    const unknown = await h.app.inject({ method: 'POST', url: `/v1/leads/${newSponsorScopedId('led', Date.now())}/retry`, headers: admin });
    expect(unknown.json()).toMatchObject({ status: 404, code: 'lead_not_found' });
    const list = await h.app.inject({ method: 'GET', url: '/v1/leads/failed', headers: admin });
    expect(list.json<{ leads: Array<{ id: string }> }>().leads.map((l) => l.id)).not.toContain(id);

    const audit = await h.app.inject({ method: 'GET', url: '/v1/audit?actor=leads-operator', headers: admin });
    expect(audit.json<{ entries: unknown[] }>().entries).toContainEqual(
      expect.objectContaining({ action: 'POST /v1/leads/:id/retry', target: { id }, status: 202, outcome: 'ok', actorRole: 'operator' }),
    );
  });

  it('a viewer may neither list nor retry', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/v1/leads/failed', headers: viewer })).json()).toMatchObject({ status: 403, code: 'forbidden' });
    expect((await h.app.inject({ method: 'POST', url: `/v1/leads/${failed[1]!}/retry`, headers: viewer })).json()).toMatchObject({ status: 403, code: 'forbidden' });
    const [row] = await h.db.query(sql`SELECT state FROM sponsor_leads WHERE id = ${failed[1]!}`);
    expect(row!.state).toBe('failed');
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, Record<string, { responses?: Record<string, unknown> }>> }>();
    expect(Object.keys(doc.paths['/v1/leads/failed'] ?? {})).toContain('get');
    // The general rate limit's answer is documented on every route.
    expect(Object.keys(doc.paths['/v1/leads/failed']!['get']!.responses ?? {})).toEqual(expect.arrayContaining(['200', '403', '429']));
    expect(Object.keys(doc.paths['/v1/accounts/']!['get']!.responses ?? {})).toContain('429');
    expect(Object.keys(doc.paths['/v1/leads/{id}/retry'] ?? {})).toContain('post');
    expect(Object.keys(doc.paths['/v1/users/{id}'] ?? {})).toEqual(expect.arrayContaining(['patch', 'delete']));
  });
});
