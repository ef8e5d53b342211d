import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIXEL } from './index.js';
import { ids, recipient, startHarness, type Harness } from '../test/harness.js';

/**
 * Per-IP rate limiting: opens and clicks only. One-click unsubscribe POSTs come from a mailbox
 * provider's few addresses and are never refused for rate.
 */
let h: Harness;
beforeAll(async () => {
  // A slow refill, so that nothing comes back during the test.
  h = await startHarness('ratelimit', { rateLimit: { perSecond: 0.01, burst: 3 } });
});
afterAll(async () => {
  await h?.close();
});

const IP = '198.51.100.23';

async function opensOf(messageId: string): Promise<number> {
  const ids = (await h.events('TRACKING')).flatMap((e) => (e.event.type === 'OpensRecorded' ? e.event.data.opens.filter((o) => o.messageId === messageId).map((o) => o.id) : []));
  return new Set(ids).size;
}

describe('per-IP rate limit', () => {
  it('over the limit: 429 with Retry-After, nothing recorded; another IP is unaffected; unsubscribe POSTs from the same IP still succeed', async () => {
    const admitted = ids();
    for (let i = 0; i < 3; i++) {
      const res = await h.app.inject({ method: 'GET', url: `/track/open/${h.tokens.issue('open', admitted)}`, remoteAddress: IP });
      expect(res.statusCode).toBe(200);
      expect(res.rawPayload.equals(PIXEL)).toBe(true);
    }

    const refused = ids();
    const open = await h.app.inject({ method: 'GET', url: `/track/open/${h.tokens.issue('open', refused)}`, remoteAddress: IP });
    expect(open.statusCode).toBe(429);
    // The next token is ~100 s away at 0.01 a second.
    expect(Number(open.headers['retry-after'])).toBeGreaterThanOrEqual(90);
    expect(Number(open.headers['retry-after'])).toBeLessThanOrEqual(100);
    expect(open.headers['content-type']).toBe('text/html; charset=utf-8');
    const click = await h.app.inject({ method: 'GET', url: `/track/click/${h.tokens.issue('click', { ...refused, url: 'https://example.com/x' })}`, remoteAddress: IP });
    expect(click.statusCode).toBe(429);
    expect(click.headers.location).toBeUndefined();
    expect(click.headers['retry-after']).toBeDefined();

    // Another client is not held back by this one.
    const other = ids();
    expect((await h.app.inject({ method: 'GET', url: `/track/open/${h.tokens.issue('open', other)}`, remoteAddress: '203.0.113.5' })).statusCode).toBe(200);

    // Far beyond the limit, from the same address: every one-click unsubscribe succeeds.
    for (let i = 0; i < 10; i++) {
      const token = h.tokens.issue('unsub', { ...ids(), address: recipient('rl') });
      const res = await h.app.inject({
        method: 'POST',
        url: `/unsubscribe/${token}`,
        remoteAddress: IP,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'List-Unsubscribe=One-Click',
      });
      expect(res.statusCode).toBe(200);
      expect((await h.app.inject({ method: 'GET', url: `/unsubscribe/${token}`, remoteAddress: IP })).statusCode).toBe(200);
    }

    await expect.poll(() => opensOf(other.messageId)).toBe(1);
    await expect.poll(() => opensOf(admitted.messageId)).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(await opensOf(refused.messageId)).toBe(0);
    expect((await h.events('TRACKING')).filter((e) => e.event.type === 'LinkClicked')).toEqual([]);
  });
});
