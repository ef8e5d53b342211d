import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeAccountCommand } from '@postbus/bus';
import { sql } from '@postbus/db';
import { sleep, waitFor } from '@postbus/testing';
import { ledgerStates, registerAccount, requestMessages, startWorld, waitUntilSettled, type World } from './fixtures.js';

const WEBHOOK_SECRET = 'test-webhook-secret-0123456789';

interface Received {
  body: { kind: string; accountId: string | null; severity: string };
  signatureOk: boolean;
}

/**
 * An account whose SMTP server answers 535: suspended, an alert raised and delivered to a
 * signed webhook, its queued mail held until an admin moves it; then delivered by the other
 * accounts, none twice. An account paused for its bounce rate refuses the move.
 */
describe('suspension, alerts and moving a stopped account’s mail', () => {
  let w: World;
  let hook: Server;
  const received: Received[] = [];

  beforeAll(async () => {
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const [t, v1] = (req.headers['postbus-signature'] as string).split(',').map((p) => p.split('=')[1]);
        const expected = createHmac('sha256', WEBHOOK_SECRET).update(`${t}.${body}`).digest('hex');
        received.push({ body: JSON.parse(body), signatureOk: v1 === expected });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const port = (hook.address() as { port: number }).port;
    w = await startWorld({
      users: ['sa', 'sb', 'sc', 'sd'],
      refusedUsers: ['sa'],
      env: { POSTBUS_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/alerts`, POSTBUS_ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET },
    });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
    await new Promise((r) => hook?.close(r));
  });

  it('suspends on 535, alerts, holds the mail until an admin moves it, and refuses to move mail off a bounce-paused account', async () => {
    const refused = await registerAccount(w, 'sa', 1_000, { sendDelayMs: 50 });
    await registerAccount(w, 'sb', 1_000, { sendDelayMs: 10 });
    await registerAccount(w, 'sc', 1_000, { sendDelayMs: 10 });
    await requestMessages(w, 90, 'sp');

    await waitFor(async () => (await w.admin.request('GET', `/v1/accounts/${refused}`)).body.status === 'suspended', {
      timeoutMs: 30_000,
      message: 'the account was not suspended',
    });
    const account = (await w.admin.request('GET', `/v1/accounts/${refused}`)).body;
    expect(account).toMatchObject({ status: 'suspended', statusActor: 'orchestrator' });
    expect(account.statusReason).toMatch(/^credentials_rejected/);
    // The leader raises the alert when it sees the new status: moments after the status shows.
    await waitFor(async () => ((await w.admin.request('GET', `/v1/alerts?accountId=${refused}`)).body.alerts as Array<{ kind: string }>).some((a) => a.kind === 'account_suspended'), {
      timeoutMs: 10_000,
      message: 'no account_suspended alert was recorded',
    });
    await waitFor(async () => received.some((r) => r.body.kind === 'account_suspended' && r.body.accountId === refused), {
      timeoutMs: 10_000,
      message: 'the alert did not reach the webhook',
    });
    expect(received.every((r) => r.signatureOk)).toBe(true);

    // Its share is held: the others finish theirs, and its messages stay queued.
    const held = async () =>
      (await w.db.query(sql`SELECT count(*)::int AS n FROM deliveries WHERE account_id = ${refused} AND state IN ('assigned', 'retry_wait')`))[0]!.n as number;
    await waitFor(async () => (await w.db.query(sql`SELECT count(*)::int AS n FROM deliveries WHERE account_id <> ${refused} AND state <> 'sent'`))[0]!.n === 0, {
      timeoutMs: 60_000,
      message: 'the other accounts did not send their share',
    });
    const heldCount = await held();
    expect(heldCount).toBeGreaterThan(0);
    await sleep(3_000);
    expect(await held()).toBe(heldCount);
    expect(w.sink.countByUser().get('sa') ?? 0).toBe(0);

    // Not from an active account, never from one its bounces stopped.
    // Another id (its last character changed — never to the one it already has: that flaked once).
    const other = `${refused.slice(0, -1)}${refused.endsWith('0') ? '1' : '0'}`;
    const active = (await w.admin.request('POST', `/v1/accounts/${other}/move-queued`, { reason: 'x' })).status;
    expect([404, 409]).toContain(active);
    const bounced = await registerAccount(w, 'sd', 1_000);
    await executeAccountCommand(w.bus, { type: 'PauseAccount', accountId: bounced, status: 'paused_bounce_rate', reason: 'hard bounces 7 %', actor: 'orchestrator' }, new Date());
    await waitFor(async () => (await w.admin.request('GET', `/v1/accounts/${bounced}`)).body.status === 'paused_bounce_rate', { timeoutMs: 10_000 });
    const refusedMove = await w.admin.request('POST', `/v1/accounts/${bounced}/move-queued`, { reason: 'try' });
    expect(refusedMove.status).toBe(409);
    expect(refusedMove.body.code).toBe('move_refused');

    // A person moves the suspended account's mail: the others deliver it, none twice.
    const move = await w.admin.request('POST', `/v1/accounts/${refused}/move-queued`, { reason: 'credentials rejected; send through the others' });
    expect(move.status).toBe(200);
    expect(move.body).toMatchObject({ accountId: refused, moved: heldCount, keptPinned: 0, uncertain: 0 });
    await waitUntilSettled(w, 90, 60_000);
    expect(await ledgerStates(w.db)).toEqual({ sent: 90 });
    expect(w.sink.duplicates()).toEqual([]);
    expect(w.sink.transactions.length).toBe(90);
    expect(w.sink.countByUser().get('sa') ?? 0).toBe(0);
    const placement = (await w.admin.request('GET', `/v1/accounts/${refused}/placement`)).body;
    expect(placement).toMatchObject({ status: 'suspended', nodeId: null });
  }, 180_000);
});
