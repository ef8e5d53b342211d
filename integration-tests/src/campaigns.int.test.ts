import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@postbus/db';
import { waitFor } from '@postbus/testing';
import { registerAccount, startWorld, type World } from './fixtures.js';

interface Progress {
  recipients: number;
  requested: number;
  sent: number;
  cancelled: number;
}
interface Campaign {
  id: string;
  status: string;
  progress: Progress;
}

/**
 * Campaigns end to end: the orchestrator's expansion turns recipients into messages a
 * window at a time (POSTBUS_CAMPAIGN_WINDOW = 5 here), a pause stops it within one window,
 * a resume finishes it, and a cancel stops the messages not yet claimed.
 */
describe('campaigns, end to end', () => {
  let w: World;
  let accountId: string;
  beforeAll(async () => {
    w = await startWorld({ users: ['camp'], sinkDelayMs: 60, env: { POSTBUS_CAMPAIGN_WINDOW: '5' }, services: ['admin', 'orchestrator', 'sender', 'projector'] });
    accountId = await registerAccount(w, 'camp', 10_000);
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  const create = async (n: number, extra: Record<string, unknown> = {}): Promise<Campaign> => {
    const recipients = Array.from({ length: n }, (_, i) => ({ to: `c${i}-${Math.random().toString(36).slice(2, 8)}@receiver.test`, variables: { n: String(i) } }));
    const res = await w.admin.request('POST', '/v1/campaigns', { name: 'Spring sale', subject: 'Spring sale', text: 'Everything must go.', recipients, ...extra });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as Campaign;
  };
  const get = async (id: string): Promise<Campaign> => (await w.admin.request('GET', `/v1/campaigns/${id}`)).body as Campaign;
  const atServer = async (campaignId: string): Promise<number> => {
    const ids = new Set((await w.db.query(sql`SELECT message_id FROM campaign_recipients WHERE campaign_id = ${campaignId}`)).map((r) => `<${r.message_id}@sender.test>`));
    return w.sink.transactions.filter((t) => ids.has(t.messageId!)).length;
  };

  it('sends 50 recipients; a pause stops it within one window; a resume finishes it', async () => {
    const c = await create(50);
    expect(c.progress.recipients).toBe(50);
    expect((await w.admin.request('POST', `/v1/campaigns/${c.id}/send`, {})).body.status).toBe('running');
    await waitFor(async () => (await atServer(c.id)) >= 10, { timeoutMs: 30_000, message: 'the campaign did not start sending' });
    expect((await w.admin.request('POST', `/v1/campaigns/${c.id}/pause`, { reason: 'checking the copy' })).body.status).toBe('paused');
    const [atPause] = await w.db.query(sql`SELECT count(*)::int AS n FROM campaign_recipients WHERE campaign_id = ${c.id} AND requested_at IS NOT NULL`);

    // What was requested goes out; nothing more is requested while paused.
    await waitFor(async () => (await get(c.id)).progress.sent === atPause?.n, { timeoutMs: 30_000, message: 'the requested messages did not go out' });
    await new Promise((r) => setTimeout(r, 2_500));
    const paused = await get(c.id);
    expect(paused.status).toBe('paused');
    expect(paused.progress.requested).toBe(atPause?.n);
    expect(paused.progress.requested).toBeLessThanOrEqual(10 + 5 + 5);
    expect(paused.progress.requested).toBeLessThan(50);
    expect(await atServer(c.id)).toBe(paused.progress.requested);

    expect((await w.admin.request('POST', `/v1/campaigns/${c.id}/resume`, {})).body.status).toBe('running');
    await waitFor(async () => (await get(c.id)).progress.sent === 50, { timeoutMs: 60_000, message: 'the campaign did not finish' });
    await waitFor(async () => (await get(c.id)).status === 'completed', { timeoutMs: 10_000, message: 'the campaign was not completed' });
    expect(await atServer(c.id)).toBe(50);
    expect(w.sink.duplicates()).toEqual([]);

    // Its messages are found by campaign, state and recipient.
    const sent = await w.admin.request('GET', `/v1/messages?campaignId=${c.id}&state=sent&limit=100`);
    expect(sent.body.messages).toHaveLength(50);
    const one = sent.body.messages[0] as { id: string; to: string };
    const byRecipient = await w.admin.request('GET', `/v1/messages?recipient=${encodeURIComponent(one.to.toUpperCase())}`);
    expect(byRecipient.body.messages.map((m: { id: string }) => m.id)).toEqual([one.id]);
    const events = await w.admin.request('GET', `/v1/messages/${one.id}/events`);
    expect(events.body.events.map((e: { type: string }) => e.type)).toEqual(['EmailRequested', 'EmailQueued', 'EmailSent']);
  }, 120_000);

  it('cancels a scheduled campaign before it sends, and a running one whose messages wait', async () => {
    const later = await create(20, { sendAt: '2099-01-01T00:00:00Z' });
    expect((await w.admin.request('POST', `/v1/campaigns/${later.id}/send`, {})).body.status).toBe('scheduled');
    const cancelled = await w.admin.request('POST', `/v1/campaigns/${later.id}/cancel`, { reason: 'plans changed' });
    expect(cancelled.body).toMatchObject({ status: 'cancelled', cancelledMessages: 0 });

    // With its only account paused, a running campaign's messages wait for room: a cancel stops them.
    expect((await w.admin.request('POST', `/v1/accounts/${accountId}/pause`, { reason: 'test' })).status).toBe(200);
    const waiting = await create(20);
    await w.admin.request('POST', `/v1/campaigns/${waiting.id}/send`, {});
    await waitFor(async () => {
      const [r] = await w.db.query(sql`SELECT count(*)::int AS n FROM deliveries WHERE campaign_id = ${waiting.id} AND state = 'waiting'`);
      return r?.n === 5;
    }, { timeoutMs: 20_000, message: 'the campaign’s first window did not wait for room' });
    const res = await w.admin.request('POST', `/v1/campaigns/${waiting.id}/cancel`, {});
    expect(res.body).toMatchObject({ status: 'cancelled', cancelledMessages: 5 });
    expect((await w.admin.request('POST', `/v1/accounts/${accountId}/resume`, { reason: 'test' })).status).toBe(200);

    await waitFor(async () => (await get(waiting.id)).progress.cancelled === 5, { timeoutMs: 20_000, message: 'the read table did not show the cancels' });
    await new Promise((r) => setTimeout(r, 2_000));
    const after = await get(waiting.id);
    expect(after).toMatchObject({ status: 'cancelled', progress: { requested: 5, cancelled: 5, sent: 0 } });
    expect(await atServer(waiting.id)).toBe(0);
    expect(await atServer(later.id)).toBe(0);
    const rows = await w.db.query(sql`SELECT count(*)::int AS n FROM deliveries WHERE campaign_id = ${later.id}`);
    expect(rows[0]?.n).toBe(0);
  }, 90_000);
});
