import { decodeEvent, type PostbusEvent } from '@postbus/contracts';
import { sql } from '@postbus/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, validAccount, type Harness } from '../test/harness.js';

let h: Harness;
let auth: { authorization: string };
beforeAll(async () => {
  h = await startHarness();
  auth = await h.authHeader();
  const res = await h.app.inject({ method: 'POST', url: '/v1/accounts', headers: auth, payload: validAccount() });
  expect(res.statusCode).toBe(201);
});
afterAll(async () => {
  await h?.close();
});

const call = (method: 'GET' | 'POST', url: string, payload?: object) => h.app.inject({ method, url, headers: auth, ...(payload ? { payload } : {}) });
const template = { name: 'Spring', subject: 'Hello {{first}}', text: 'Hi {{first}}', html: '<p>Hi</p>' };

async function campaignEvents(id: string): Promise<PostbusEvent[]> {
  return (await h.rawMessages('CAMPAIGNS')).filter((m) => m.subject === h.bus.subjects.campaign(id)).map((m) => decodeEvent(m.data));
}

interface View {
  id: string;
  status: string;
  progress?: { recipients: number; requested: number };
}

describe('campaigns', () => {
  it('creates a campaign with inline recipients (one message per normalised address)', async () => {
    const res = await call('POST', '/v1/campaigns', {
      ...template,
      recipients: [{ to: 'ann@example.org', variables: { first: 'Ann' } }, { to: 'Bob@Example.org' }, { to: 'ANN@example.org' }],
    });
    expect(res.statusCode, res.body).toBe(201);
    const c = res.json<View>();
    expect(c.id).toMatch(/^cmp_[0-9A-Z]{26}$/);
    expect(c).toMatchObject({ status: 'draft', progress: { recipients: 2, requested: 0 } });
    expect((await campaignEvents(c.id)).map((e) => e.type)).toEqual(['CampaignCreated', 'RecipientsAdded']);
    // Recipients' addresses are in Postgres, never in the campaign's events.
    expect(JSON.stringify(await campaignEvents(c.id))).not.toContain('ann@example.org');
  });

  it('imports chunks idempotently, and refuses a reused chunk key with other recipients', async () => {
    const c = (await call('POST', '/v1/campaigns', template)).json<View>();
    const chunk = { chunkKey: 'part-1', recipients: Array.from({ length: 20 }, (_, i) => ({ to: `r${i}@example.org` })) };
    const first = await call('POST', `/v1/campaigns/${c.id}/recipients`, chunk);
    expect(first.json()).toEqual({ campaignId: c.id, chunkKey: 'part-1', added: 20, duplicates: 0, replayed: false });
    const again = await call('POST', `/v1/campaigns/${c.id}/recipients`, chunk);
    expect(again.json()).toMatchObject({ added: 20, replayed: true });
    const other = await call('POST', `/v1/campaigns/${c.id}/recipients`, { chunkKey: 'part-1', recipients: [{ to: 'x@example.org' }] });
    expect(other.statusCode).toBe(409);
    expect(other.json<{ code: string }>().code).toBe('chunk_key_reused');
    const [n] = await h.db.query(sql`SELECT count(*)::int AS n FROM campaign_recipients WHERE campaign_id = ${c.id}`);
    expect(n?.n).toBe(20);
    expect((await call('GET', `/v1/campaigns/${c.id}`)).json<View>().progress?.recipients).toBe(20);
    expect((await campaignEvents(c.id)).filter((e) => e.type === 'RecipientsAdded')).toHaveLength(1);
  });

  it('checks recipients and the template as messages are checked', async () => {
    const bad = await call('POST', '/v1/campaigns', { ...template, recipients: [{ to: 'ok@example.org' }, { to: 'not an address' }] });
    expect(bad.statusCode).toBe(422);
    expect(bad.json<{ code: string; detail: string }>()).toMatchObject({ code: 'invalid_address', detail: expect.stringContaining('recipients[1]') });
    const injected = await call('POST', '/v1/campaigns', { ...template, subject: 'Hi\r\nBcc: x@example.org' });
    expect(injected.json<{ code: string }>().code).toBe('header_injection');
    expect((await call('POST', '/v1/campaigns', { ...template, recipients: Array.from({ length: 1001 }, () => ({ to: 'a@example.org' })) })).statusCode).toBe(400);
  });

  it('sends, pauses, resumes and cancels through the aggregate', async () => {
    const c = (await call('POST', '/v1/campaigns', { ...template, recipients: [{ to: 'a@example.org' }] })).json<View>();
    const send = await call('POST', `/v1/campaigns/${c.id}/send`, {});
    expect(send.json<View>().status).toBe('running');
    const [row] = await h.db.query(sql`SELECT active FROM campaigns WHERE id = ${c.id}`);
    expect(row?.active).toBe(true);
    expect((await call('POST', `/v1/campaigns/${c.id}/send`, {})).json<View>().status).toBe('running');
    // Recipients can no longer be added once it was sent.
    const late = await call('POST', `/v1/campaigns/${c.id}/recipients`, { chunkKey: 'late', recipients: [{ to: 'late@example.org' }] });
    expect(late.json<{ code: string }>().code).toBe('campaign_not_editable');
    expect((await call('POST', `/v1/campaigns/${c.id}/pause`, { reason: 'checking the copy' })).json<View>().status).toBe('paused');
    expect((await call('POST', `/v1/campaigns/${c.id}/resume`, {})).json<View>().status).toBe('running');
    const cancelled = await call('POST', `/v1/campaigns/${c.id}/cancel`, {});
    expect(cancelled.json()).toMatchObject({ status: 'cancelled', cancelledMessages: 0 });
    const resume = await call('POST', `/v1/campaigns/${c.id}/resume`, {});
    expect(resume.statusCode).toBe(409);
    expect(resume.json<{ code: string }>().code).toBe('campaign_cancelled');
    expect((await campaignEvents(c.id)).map((e) => e.type)).toEqual([
      'CampaignCreated', 'RecipientsAdded', 'CampaignStarted', 'CampaignPaused', 'CampaignResumed', 'CampaignCancelled',
    ]);
  });

  it('schedules a send for later; an empty campaign cannot be sent', async () => {
    const c = (await call('POST', '/v1/campaigns', { ...template, recipients: [{ to: 'a@example.org' }], sendAt: '2099-01-01T00:00:00Z' })).json<View>();
    const sent = (await call('POST', `/v1/campaigns/${c.id}/send`, {})).json<View & { scheduledAt: string }>();
    expect(sent).toMatchObject({ status: 'scheduled', scheduledAt: '2099-01-01T00:00:00.000Z' });
    const empty = (await call('POST', '/v1/campaigns', template)).json<View>();
    const res = await call('POST', `/v1/campaigns/${empty.id}/send`, {});
    expect(res.statusCode).toBe(422);
    expect(res.json<{ code: string }>().code).toBe('campaign_empty');
  });

  it('lists campaigns newest first with a cursor; an unknown campaign is a 404', async () => {
    const first = (await call('GET', '/v1/campaigns?limit=2')).json<{ campaigns: View[]; next: string | null }>();
    expect(first.campaigns).toHaveLength(2);
    expect(first.next).not.toBeNull();
    const rest = (await call('GET', `/v1/campaigns?limit=100&after=${first.next}`)).json<{ campaigns: View[]; next: string | null }>();
    const ids = [...first.campaigns, ...rest.campaigns].map((c) => c.id);
    expect(ids).toEqual([...ids].sort().reverse());
    expect(new Set(ids).size).toBe(ids.length);
    expect((await call('GET', '/v1/campaigns/cmp_01J00000000000000000000000')).statusCode).toBe(404);
  });
});
