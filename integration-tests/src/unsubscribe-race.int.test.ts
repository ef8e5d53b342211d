import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@postbus/db';
import { waitFor } from '@postbus/testing';
import { registerAccount, startWorld, waitUntilSettled, type World } from './fixtures.js';

const TARGET = 'target@receiver.test';
const TOTAL = 1_500;

interface Claim {
  readonly claimed: string[];
  readonly suppressed: string[];
  readonly readAt: number;
}

/** The sender's claim log lines (debug): which messages each claim took, and when it read the suppression list. */
function claimsFrom(log: string): Claim[] {
  const out: Claim[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes('"msg":"claimed"')) continue;
    const j = JSON.parse(line) as { claimed: string[]; suppressed: string[]; suppressionReadAt: string };
    out.push({ claimed: j.claimed, suppressed: j.suppressed, readAt: Date.parse(j.suppressionReadAt) });
  }
  return out;
}

/**
 * DESIGN.md invariant 1, as a user would meet it: a campaign sending at full speed, one
 * recipient unsubscribes by RFC 8058 one-click mid-flight. Judged by the time each claim read
 * the suppression list (the sender logs it): no message to that address whose read came after
 * the answer reached the SMTP server; and counted there.
 */
describe('an unsubscribe in the middle of a campaign at full speed', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({
      users: ['fast'],
      services: ['admin', 'orchestrator', 'sender', 'projector', 'tracking'],
      env: { POSTBUS_LOG_LEVEL: 'debug' },
      keepOutputChunks: 200_000,
    });
    await waitFor(async () => (await fetch(`${w.platform.trackingUrl}/readyz`).catch(() => undefined))?.ok === true, { timeoutMs: 20_000, message: 'tracking did not start' });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  it('sends nothing to the address whose claim read the list after the answer', async () => {
    await registerAccount(w, 'fast', 100_000, { batchSize: 50, sendDelayMs: 0 });
    // Every fifth message of the campaign is for the target.
    const messages = Array.from({ length: TOTAL }, (_, i) => ({ to: i % 5 === 0 ? TARGET : `r${i}@receiver.test`, subject: `Spring ${i}`, text: `Sale ${i}.`, campaignId: 'spring' }));
    const ids: string[] = [];
    for (let i = 0; i < TOTAL; i += 1000) {
      const res = await w.admin.request('POST', '/v1/messages', { messages: messages.slice(i, i + 1000) });
      expect(res.status).toBe(202);
      ids.push(...(res.body.messages as Array<{ id: string }>).map((m) => m.id));
    }
    const toTarget = new Set(ids.filter((_, i) => i % 5 === 0));
    // Mid-flight: once the target has had a message and the campaign is well under way.
    const txs = await w.sink.waitFor((t) => t.length >= 150 && t.some((x) => x.rcptTo.includes(TARGET)), 60_000);
    const first = txs.find((x) => x.rcptTo.includes(TARGET))!;
    const head = first.raw.toString('latin1').replace(/\r\n[ \t]+/g, ' ');
    const url = /^List-Unsubscribe: <([^>]+)>/im.exec(head)?.[1];
    expect(url).toBeDefined();
    const res = await fetch(url!, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    const answeredAt = Date.now();
    expect(res.status).toBe(200);
    const sentAtAnswer = w.sink.transactions.length;

    await waitUntilSettled(w, TOTAL, 120_000);
    const claims = claimsFrom(w.platform.logs('sender'));
    const readAt = new Map<string, number>();
    for (const c of claims) for (const id of [...c.claimed, ...c.suppressed]) readAt.set(id, Math.max(readAt.get(id) ?? 0, c.readAt));
    // Every message was claimed and logged (the claim log is complete).
    expect(ids.every((id) => readAt.has(id))).toBe(true);

    const atServer = w.sink.transactions.filter((t) => t.rcptTo.includes(TARGET));
    const ourId = (headerId: string | undefined) => /msg_[0-9A-Z]{26}/.exec(headerId ?? '')?.[0];
    const late = atServer.filter((t) => readAt.get(ourId(t.messageId)!)! >= answeredAt);
    expect(late).toEqual([]);

    const states = await w.db.query(sql`SELECT message_id, state FROM deliveries WHERE message_id = ANY(${[...toTarget]}::text[])`);
    const suppressed = states.filter((r) => r.state === 'suppressed').length;
    const sent = states.filter((r) => r.state === 'sent').length;
    // The race was real: some of the target's mail went before the answer, the rest was stopped.
    expect(sent).toBe(atServer.length);
    expect(sent).toBeGreaterThan(0);
    expect(suppressed).toBeGreaterThan(0);
    expect(sent + suppressed).toBe(toTarget.size);
    // Nothing to the target was claimed (read the list) after the answer and sent.
    const claimedLate = [...toTarget].filter((id) => readAt.get(id)! >= answeredAt);
    expect(claimedLate.every((id) => states.find((r) => r.message_id === id)?.state === 'suppressed')).toBe(true);
    console.log(
      `campaign of ${TOTAL}: ${sentAtAnswer} sent when the unsubscribe was answered; to the target: ${sent} sent (all claimed before the answer), ${suppressed} suppressed (${claimedLate.length} claimed after the answer)`,
    );
  }, 180_000);
});
