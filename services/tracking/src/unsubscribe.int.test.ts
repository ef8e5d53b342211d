import { addressHash, suppressionShard } from '@postbus/contracts';
import { sql } from '@postbus/db';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxSize } from './index.js';
import { ids, recipient, startHarness, testTokenKeyring, type Harness } from '../test/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('unsubscribe');
});
afterAll(async () => {
  await h?.close();
});

const hex = (address: string) => addressHash(address).toString('hex');

async function suppressionRows(address: string) {
  return h.env.db.query(sql`SELECT address, reason, source FROM suppressions WHERE address_hash = ${addressHash(address)}`);
}

async function eventsFor(address: string) {
  const hash = hex(address);
  const suppressed = (await h.events('SUPPRESSION')).filter((e) => e.event.type === 'AddressSuppressed' && e.event.data.addressHash === hash);
  const unsubscribed = (await h.events('TRACKING')).filter((e) => e.event.type === 'Unsubscribed' && e.event.data.addressHash === hash);
  return { suppressed, unsubscribed };
}

function expectLockedDownHtml(res: LightMyRequestResponse) {
  expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(res.headers['content-security-policy']).toMatch(/default-src 'none'/);
  expect(res.headers['content-security-policy']).toMatch(/script-src 'none'/);
  expect(res.headers['x-frame-options']).toBe('DENY');
  expect(res.headers['referrer-policy']).toBe('no-referrer');
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers.location).toBeUndefined();
}

describe('GET /unsubscribe/:token', () => {
  it('shows a confirmation page whose button POSTs back, and changes nothing', async () => {
    const address = recipient();
    const ref = ids();
    const token = h.tokens.issue('unsub', { ...ref, address, campaignId: 'spring' });
    const res = await h.app.inject({ method: 'GET', url: `/unsubscribe/${token}` });
    expect(res.statusCode).toBe(200);
    expectLockedDownHtml(res);
    expect(res.body).toContain('<form method="post">');
    expect(res.body).toContain(`${address[0]}•••@example.org`);
    expect(res.body).not.toContain(address);
    expect(res.body).not.toContain(token);
    expect(res.body).not.toMatch(/<script/i);
    // A HEAD (a scanner checking the link) changes nothing either.
    expect((await h.app.inject({ method: 'HEAD', url: `/unsubscribe/${token}` })).statusCode).toBe(200);
    expect(await suppressionRows(address)).toEqual([]);
    expect(await eventsFor(address)).toEqual({ suppressed: [], unsubscribed: [] });
  });

  it('an invalid token is the 404 page', async () => {
    const ref = ids();
    for (const token of ['nope', h.tokens.issue('open', ref), testTokenKeyring().issue('unsub', { ...ref, address: recipient() })]) {
      const res = await h.app.inject({ method: 'GET', url: `/unsubscribe/${token}` });
      expect(res.statusCode).toBe(404);
      expectLockedDownHtml(res);
    }
  });
});

describe('POST /unsubscribe/:token', () => {
  const bodies: Array<{ name: string; headers: Record<string, string>; payload?: string; method: 'one_click' | 'page' }> = [
    { name: 'RFC 8058 urlencoded', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click', method: 'one_click' },
    {
      name: 'RFC 8058 multipart',
      headers: { 'content-type': 'multipart/form-data; boundary=----x7' },
      payload: '------x7\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n------x7--\r\n',
      method: 'one_click',
    },
    { name: 'the page button', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'confirm=unsubscribe', method: 'page' },
    { name: 'an empty body', headers: {}, method: 'page' },
    { name: 'text/plain', headers: { 'content-type': 'text/plain' }, payload: 'hello', method: 'page' },
    { name: 'broken JSON', headers: { 'content-type': 'application/json' }, payload: '{"oops', method: 'page' },
    { name: 'a malformed content type', headers: { 'content-type': 'garbage' }, payload: 'List-Unsubscribe=One-Click', method: 'one_click' },
  ];

  it.each(bodies)('$name: suppresses before answering 200, then the events are in the log', async ({ headers, payload, method }) => {
    const address = recipient();
    const ref = ids();
    const token = h.tokens.issue('unsub', { ...ref, address, campaignId: 'spring' });
    const res = await h.app.inject({ method: 'POST', url: `/unsubscribe/${token}`, headers, ...(payload !== undefined ? { payload } : {}) });
    // The row is there when the answer is: checked before anything else.
    expect(await suppressionRows(address)).toEqual([{ address, reason: 'unsubscribed', source: 'tracking' }]);
    expect(res.statusCode).toBe(200);
    expectLockedDownHtml(res);
    expect(res.body).toContain('unsubscribed');

    const { suppressed, unsubscribed } = await eventsFor(address);
    expect(suppressed).toHaveLength(1);
    expect(suppressed[0]!.subject).toBe(h.env.bus.subjects.suppression(suppressionShard(hex(address))));
    expect(suppressed[0]!.msgId).toBe(suppressed[0]!.event.id);
    expect(suppressed[0]!.event).toMatchObject({ type: 'AddressSuppressed', messageId: ref.messageId, data: { addressHash: hex(address), reason: 'unsubscribed', source: 'tracking' } });
    expect(unsubscribed).toHaveLength(1);
    expect(unsubscribed[0]!.subject).toBe(h.env.bus.subjects.tracking(ref.accountId, 'unsubscribed'));
    expect(unsubscribed[0]!.event).toMatchObject({ id: `${ref.messageId}.unsubscribed`, accountId: ref.accountId, messageId: ref.messageId, data: { campaignId: 'spring', addressHash: hex(address), method } });
    expect(await outboxSize(h.env.db)).toBe(0);
  });

  it('no plain address in any stored event', async () => {
    const all = [...(await h.events('SUPPRESSION')), ...(await h.events('TRACKING'))];
    expect(all.length).toBeGreaterThanOrEqual(bodies.length * 2);
    for (const e of all) expect(e.raw).not.toMatch(/@example\.org/);
  });

  it('is idempotent: the same token twice answers 200 twice, one row, one event of each', async () => {
    const address = recipient();
    const token = h.tokens.issue('unsub', { ...ids(), address });
    for (let i = 0; i < 2; i++) {
      const res = await h.app.inject({ method: 'POST', url: `/unsubscribe/${token}`, payload: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(res.statusCode).toBe(200);
    }
    expect(await suppressionRows(address)).toHaveLength(1);
    const { suppressed, unsubscribed } = await eventsFor(address);
    expect([suppressed.length, unsubscribed.length]).toEqual([1, 1]);
  });

  it('another message to an address already suppressed: 200, no second suppression, its own Unsubscribed', async () => {
    const address = recipient();
    const first = ids();
    const second = ids();
    await h.app.inject({ method: 'POST', url: `/unsubscribe/${h.tokens.issue('unsub', { ...first, address })}` });
    const res = await h.app.inject({ method: 'POST', url: `/unsubscribe/${h.tokens.issue('unsub', { ...second, address })}` });
    expect(res.statusCode).toBe(200);
    const { suppressed, unsubscribed } = await eventsFor(address);
    expect(suppressed).toHaveLength(1);
    expect(unsubscribed.map((e) => e.event.messageId).sort()).toEqual([first.messageId, second.messageId].sort());
  });

  it('an invalid, tampered or wrong-kind token: 404 page, nothing written', async () => {
    const address = recipient();
    const ref = ids();
    const good = h.tokens.issue('unsub', { ...ref, address });
    const i = Math.floor(good.length / 2);
    const tampered = good.slice(0, i) + (good[i] === 'A' ? 'B' : 'A') + good.slice(i + 1);
    for (const token of [tampered, h.tokens.issue('click', { ...ref, url: 'https://example.com/' }), testTokenKeyring().issue('unsub', { ...ref, address }), 'A'.repeat(2000)]) {
      const res = await h.app.inject({ method: 'POST', url: `/unsubscribe/${token}`, payload: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(res.statusCode).toBe(404);
      expectLockedDownHtml(res);
    }
    expect(await suppressionRows(address)).toEqual([]);
  });

  it('a body over the limit is refused (413) and records nothing', async () => {
    const address = recipient();
    const res = await h.app.inject({
      method: 'POST',
      url: `/unsubscribe/${h.tokens.issue('unsub', { ...ids(), address })}`,
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.alloc(70 * 1024),
    });
    expect(res.statusCode).toBe(413);
    expect(await suppressionRows(address)).toEqual([]);
    // An overlong token is refused before its body is read.
    const long = await h.app.inject({ method: 'POST', url: `/unsubscribe/${'A'.repeat(1500)}`, headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(70 * 1024) });
    expect(long.statusCode).toBe(404);
  });
});
