import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamName } from '@postbus/contracts';
import { sql } from '@postbus/db';
import { waitFor } from '@postbus/testing';
import { verifyDkim } from '../../packages/mail/test/dkim-verify.js';
import { registerAccount, startWorld, waitUntilSettled, type World } from './fixtures.js';

/** The headers of a raw message, unfolded, by lower-case name. */
function headersOf(raw: Buffer): Map<string, string> {
  const text = raw.toString('latin1');
  const head = text.slice(0, text.search(/\r\n\r\n/)).replace(/\r\n[ \t]+/g, ' ');
  return new Map(head.split('\r\n').map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
}

/** Quoted-printable soft breaks and escapes undone, enough to find URLs in a body. */
const unQp = (s: string) => s.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));

/**
 * Compliance by construction, end to end: bulk mail leaves with one-click unsubscribe headers,
 * a footer with the postal address, tracked links and an open pixel; a one-click POST to the
 * tracking service suppresses the address before it answers, and no later message reaches it.
 */
describe('unsubscribe and tracking, end to end', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ users: ['ua'], services: ['admin', 'orchestrator', 'sender', 'projector', 'tracking'] });
    await waitFor(async () => (await fetch(`${w.platform.trackingUrl}/readyz`).catch(() => undefined))?.ok === true, { timeoutMs: 20_000, message: 'tracking did not start' });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  const send = async (to: string, extra: Record<string, unknown> = {}) => {
    const res = await w.admin.request('POST', '/v1/messages', {
      messages: [{ to, subject: 'News', text: 'Read https://shop.example/sale now.', html: '<p>Read <a href="https://shop.example/sale">the sale</a> now.</p>', ...extra }],
    });
    expect(res.status).toBe(202);
    return res.body.messages[0].id as string;
  };

  it('one-click unsubscribe suppresses before the answer, and nothing more reaches the address', async () => {
    const accountId = await registerAccount(w, 'ua', 1_000);
    // DKIM for the account's domain: the answer is the DNS record; the key is never shown again.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const dkim = await w.admin.request('PUT', `/v1/accounts/${accountId}/dkim`, { domain: 'sender.test', selector: 'pb1', privateKey: pem });
    expect(dkim.status).toBe(200);
    expect(dkim.body.dnsRecord).toMatchObject({ name: 'pb1._domainkey.sender.test', type: 'TXT' });
    expect(JSON.stringify(dkim.body)).not.toContain('PRIVATE KEY');
    const misaligned = await w.admin.request('PUT', `/v1/accounts/${accountId}/dkim`, { domain: 'other.test', selector: 'pb1', privateKey: pem });
    expect(misaligned.body.code).toBe('dkim_domain_not_aligned');
    expect((await w.admin.request('PUT', `/v1/accounts/${accountId}/dkim`, { domain: 'sender.test', selector: 'pb1', privateKey: 'nope' })).body.code).toBe('dkim_key_invalid');
    await waitFor(async () => (await w.admin.request('GET', `/v1/accounts/${accountId}`)).body.settings.dkim?.selector === 'pb1', { timeoutMs: 10_000 });

    await send('reader@receiver.test');
    const [tx] = await w.sink.waitFor((t) => t.length >= 1, 30_000);
    const h = headersOf(tx!.raw);
    // Signed, by an independent verifier, with both List-Unsubscribe headers covered.
    const verdict = verifyDkim(tx!.raw, createPublicKey(privateKey));
    expect(verdict).toMatchObject({ ok: true, tags: expect.objectContaining({ d: 'sender.test', s: 'pb1' }) });
    expect(verdict.signedHeaders).toEqual(expect.arrayContaining(['from', 'list-unsubscribe', 'list-unsubscribe-post', 'subject']));
    const listUnsubscribe = /<(http:\/\/127\.0\.0\.1:\d+\/unsubscribe\/[A-Za-z0-9_-]+)>/.exec(h.get('list-unsubscribe') ?? '')?.[1];
    expect(listUnsubscribe).toBeDefined();
    expect(h.get('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    expect(h.get('feedback-id')).toMatch(/^acc_[0-9A-Z]+:bulk:postbus$/);
    const body = unQp(tx!.raw.toString('latin1'));
    expect(body).toContain('1 Test Street, Testville');
    expect(body).toContain(listUnsubscribe!);
    const click = /(http:\/\/127\.0\.0\.1:\d+\/track\/click\/[A-Za-z0-9_-]+)/.exec(body)?.[1];
    const pixel = /(http:\/\/127\.0\.0\.1:\d+\/track\/open\/[A-Za-z0-9_-]+)/.exec(body)?.[1];
    expect(click).toBeDefined();
    expect(pixel).toBeDefined();
    expect(body).not.toContain('href="https://shop.example/sale"');

    // The link goes where the message said, and only there; the pixel answers at once.
    const redirected = await fetch(click!, { redirect: 'manual' });
    expect(redirected.status).toBe(302);
    expect(redirected.headers.get('location')).toBe('https://shop.example/sale');
    const gif = await fetch(pixel!, { headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0' } });
    expect(gif.headers.get('content-type')).toBe('image/gif');
    expect((await gif.arrayBuffer()).byteLength).toBe(43);

    // A GET shows a page and changes nothing (link scanners follow links).
    const page = await fetch(listUnsubscribe!);
    expect(page.status).toBe(200);
    expect(await w.db.query(sql`SELECT 1 FROM suppressions`)).toEqual([]);

    // RFC 8058 one-click: the row exists when the answer arrives.
    const res = await fetch(listUnsubscribe!, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    const answeredAt = Date.now();
    expect(res.status).toBe(200);
    expect((await w.db.query(sql`SELECT reason, source FROM suppressions`)).length).toBe(1);

    // The same person, written differently, and someone else.
    const later = [await send('Reader@Receiver.TEST'), await send('reader@receiver.test'), await send('other@receiver.test')];
    await waitUntilSettled(w, 4, 60_000);
    const states = await w.db.query(sql`SELECT message_id, state FROM deliveries WHERE message_id = ANY(${later}::text[]) ORDER BY message_id`);
    expect(Object.fromEntries(states.map((r) => [r.message_id, r.state]))).toEqual({ [later[0]!]: 'suppressed', [later[1]!]: 'suppressed', [later[2]!]: 'sent' });
    const toReader = w.sink.transactions.filter((t) => t.rcptTo.some((r) => r.toLowerCase() === 'reader@receiver.test'));
    expect(toReader).toHaveLength(1);
    expect(toReader.every((t) => t.startedAt < answeredAt)).toBe(true);

    // The facts are in the log: an open, a click, an unsubscribe — with no address in them.
    const tracking = async () => {
      const stream = streamName(w.ns, 'TRACKING');
      const last = (await w.bus.jsm.streams.info(stream)).state.last_seq;
      const events: Array<{ type: string }> = [];
      for (let seq = 1; seq <= last; seq++) events.push((await w.bus.jsm.streams.getMessage(stream, { seq })).json());
      return events;
    };
    await waitFor(async () => {
      const events = await tracking();
      return ['OpensRecorded', 'LinkClicked', 'Unsubscribed'].every((t) => events.some((e) => e.type === t));
    }, { timeoutMs: 10_000, message: 'tracking events missing' });
    expect(JSON.stringify(await tracking())).not.toMatch(/reader@receiver/i);

    // Honest figures: the click came seconds after sending (a scanner's, raw only); the open was a browser's.
    await waitFor(async () => (await w.admin.request('GET', `/v1/stats/engagement?accountId=${accountId}`)).body.unsubscribed === 1, { timeoutMs: 15_000, message: 'stats not projected' });
    const stats = (await w.admin.request('GET', `/v1/stats/engagement?accountId=${accountId}`)).body;
    expect(stats).toMatchObject({ sent: 2, unsubscribed: 1, opens: { raw: 1, human: 1, messagesHuman: 1 }, clicks: { raw: 1, human: 0, scanner: 1, messagesHuman: 0 } });
    expect(stats.rates).toMatchObject({ openHuman: 0.5, clickRaw: 0.5, clickHuman: 0 });
    // The same per UTC day (all of it today).
    const daily = (await w.admin.request('GET', `/v1/stats/daily?accountId=${accountId}`)).body;
    expect(daily.days).toEqual([
      expect.objectContaining({ day: new Date().toISOString().slice(0, 10), sent: 2, suppressed: 2, unsubscribed: 1, opens: { raw: 1, human: 1 }, clicks: { raw: 1, human: 0 } }),
    ]);
  }, 120_000);

  it('tracking follows the message kind, the message’s choice and the platform-wide switch', async () => {
    const bySubject = async (subject: string) => unQp((await w.sink.waitFor((t) => t.some((x) => x.raw.includes(subject)), 30_000)).find((x) => x.raw.includes(subject))!.raw.toString('latin1'));
    const hasPixel = (b: string) => b.includes('/track/open/');
    const hasTrackedLink = (b: string) => b.includes('/track/click/');

    await send('t1@receiver.test', { subject: 'Receipt 1', kind: 'transactional' });
    const receipt = await bySubject('Receipt 1');
    expect([hasPixel(receipt), hasTrackedLink(receipt), /^List-Unsubscribe:/im.test(receipt)]).toEqual([false, false, false]);

    await send('t2@receiver.test', { subject: 'News no clicks', tracking: { clicks: false } });
    const noClicks = await bySubject('News no clicks');
    expect([hasPixel(noClicks), hasTrackedLink(noClicks), /^List-Unsubscribe:/im.test(noClicks)]).toEqual([true, false, true]);

    // The platform-wide switch (runtime settings, no restart) wins over the message.
    expect((await w.admin.request('PATCH', '/v1/config', { trackOpens: false })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_000)); // the sender's KV watch
    await send('t3@receiver.test', { subject: 'News no opens', tracking: { opens: true } });
    const noOpens = await bySubject('News no opens');
    expect([hasPixel(noOpens), hasTrackedLink(noOpens)]).toEqual([false, true]);

    // Per campaign: clicks off for one campaign only; others keep them; null lifts it.
    const patched = await w.admin.request('PATCH', '/v1/config', { trackOpens: true, campaignTracking: { quiet: { opens: true, clicks: false } } });
    expect(patched.status).toBe(200);
    expect(patched.body.settings.campaignTracking).toEqual({ quiet: { opens: true, clicks: false } });
    await new Promise((r) => setTimeout(r, 1_000));
    await send('t4@receiver.test', { subject: 'Quiet campaign', campaignId: 'quiet' });
    await send('t5@receiver.test', { subject: 'Loud campaign', campaignId: 'loud' });
    const quiet = await bySubject('Quiet campaign');
    const loud = await bySubject('Loud campaign');
    expect([hasPixel(quiet), hasTrackedLink(quiet)]).toEqual([true, false]);
    expect([hasPixel(loud), hasTrackedLink(loud)]).toEqual([true, true]);
    const lifted = await w.admin.request('PATCH', '/v1/config', { campaignTracking: { quiet: null } });
    expect(lifted.body.settings.campaignTracking).toEqual({});
    expect((await w.admin.request('PATCH', '/v1/config', { campaignTracking: { 'not a tag!': { opens: true, clicks: true } } })).status).toBe(400);
  }, 120_000);
});
