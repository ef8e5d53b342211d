import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@postbus/db';
import { sleep, waitFor } from '@postbus/testing';
import { registerAccount, startWorld, type World } from './fixtures.js';

/** Failures by scope, end to end: temporary, permanent, and an account whose credentials are refused. */
describe('failures by scope', () => {
  let w: World;
  const tempFailed = new Set<string>();
  beforeAll(async () => {
    w = await startWorld({ users: ['ivy', 'jack'], env: { POSTBUS_RETRY_DELAYS_MS: '300,300,300' } });
    w.sink.behavior = {
      onRcpt: (address) => {
        if (address.startsWith('nobody')) return { code: 550, message: '5.1.1 User unknown' };
        // Greylisting: the first attempt of each address is refused for now.
        if (address.startsWith('grey') && !tempFailed.has(address)) {
          tempFailed.add(address);
          return { code: 451, message: '4.7.1 Greylisted, try again later' };
        }
        if (address.startsWith('always-busy')) return { code: 452, message: '4.2.2 Mailbox busy' };
        return undefined;
      },
    };
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  async function send(to: string, accountId?: string): Promise<string> {
    const res = await w.admin.request('POST', '/v1/messages', { to, subject: 'Hi', text: 'Hello', kind: 'transactional', ...(accountId ? { accountId } : {}) });
    expect(res.status).toBe(202);
    return res.body.id as string;
  }
  const row = async (id: string) => (await w.db.query(sql`SELECT state, attempt, send_failures, reason, reply_code FROM deliveries WHERE message_id = ${id}`))[0];

  it('retries a temporary refusal and then sends; fails a permanent one at once; gives up after the last retry', async () => {
    await registerAccount(w, 'ivy', 1_000);
    const grey = await send('grey1@receiver.test');
    const dead = await send('nobody@receiver.test');
    const busy = await send('always-busy@receiver.test');
    await waitFor(async () => (await row(grey))?.state === 'sent', { timeoutMs: 30_000, message: 'greylisted message not sent on retry' });
    expect(await row(grey)).toMatchObject({ state: 'sent', attempt: 2, send_failures: 1 });
    expect(await row(dead)).toMatchObject({ state: 'failed', reason: 'unknown_user', reply_code: 550, send_failures: 0 });
    await waitFor(async () => (await row(busy))?.state === 'failed', { timeoutMs: 30_000, message: 'busy message not failed after its retries' });
    expect(await row(busy)).toMatchObject({ state: 'failed', attempt: 4, send_failures: 3 });
    expect(w.sink.transactions.filter((t) => t.rcptTo.includes('grey1@receiver.test'))).toHaveLength(1);
    // The timeline shows the failed attempt, then the send.
    await waitFor(async () => {
      const res = await w.admin.request('GET', `/v1/messages/${grey}`);
      return (res.body.timeline as Array<{ type: string }>).map((e) => e.type).join(',') === 'EmailRequested,EmailQueued,EmailSendFailed,EmailQueued,EmailSent';
    }, { timeoutMs: 10_000, message: 'timeline' });
  }, 90_000);

  it('holds the mail of an account whose password is refused, using none of its attempts', async () => {
    const jack = await registerAccount(w, 'jack', 1_000, { smtp: { host: '127.0.0.1', port: w.sink.port, tls: 'none', user: 'jack', password: 'not the password' } });
    const id = await send('reader@receiver.test', jack);
    await waitFor(async () => (await row(id))?.state === 'retry_wait', { timeoutMs: 20_000, message: 'not held' });
    await sleep(1_000);
    const r = await row(id);
    expect(r).toMatchObject({ send_failures: 0, reason: 'auth_failed' });
    expect(['retry_wait', 'assigned', 'claimed']).toContain(r!.state);
    expect(w.sink.transactions.filter((t) => t.user === 'jack')).toHaveLength(0);
  }, 60_000);
});
