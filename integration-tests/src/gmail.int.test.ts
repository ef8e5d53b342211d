import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@postbus/db';
import { startGmailStandin, waitFor, type GmailStandin } from '@postbus/testing';
import { registerGmailAccount, startWorld, type World } from './fixtures.js';

/**
 * Gmail API accounts end to end: the admin, orchestrator, sender and projector as processes,
 * Google played by the stand-in (JWT grant, base64url raw MIME, From checks, Sent search).
 */
describe('Gmail API accounts', () => {
  let w: World;
  let gmail: GmailStandin;

  beforeAll(async () => {
    gmail = await startGmailStandin({ sendsPerMinute: 10_000, sendsPerDay: 10_000 });
    w = await startWorld({
      users: [],
      env: {
        POSTBUS_GMAIL_API_URL: gmail.rootUrl,
        POSTBUS_GMAIL_TRUSTED_TOKEN_URIS: gmail.tokenUri,
        POSTBUS_GMAIL_SENDS_PER_MINUTE: '6000',
        POSTBUS_GMAIL_SENT_LOOKUP_WINDOW_MS: '3000',
      },
    });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
    await gmail?.close();
  });

  const registerGmail = (user: string, extra: Record<string, unknown> = {}) => registerGmailAccount(w, gmail, user, extra);

  async function send(accountId: string, count: number, prefix: string): Promise<string[]> {
    const messages = Array.from({ length: count }, (_, i) => ({ to: `${prefix}${i}@receiver.test`, subject: `Hello ${i}`, text: `Message ${i}.`, accountId }));
    const res = await w.admin.request('POST', '/v1/messages', { messages });
    if (res.status !== 202) throw new Error(`messages not accepted: ${res.status} ${JSON.stringify(res.body)}`);
    return (res.body.messages as Array<{ id: string }>).map((m) => m.id);
  }

  const rowsOf = async (ids: string[]) =>
    w.db.query(sql`SELECT message_id, state, reply, header_message_id, send_failures, attempt FROM deliveries WHERE message_id = ANY(${ids}::text[])`);
  const allIn = (rows: Array<Record<string, unknown>>, ids: string[], state: string) => rows.length === ids.length && rows.every((r) => r.state === state);
  const statusOf = async (id: string) => (await w.admin.request('GET', `/v1/accounts/${id}`)).body as { status: string; pausedUntil: string | null };

  it('registers a Gmail account with its key write-only, and refuses a bad key without echoing it', async () => {
    const key = await gmail.createServiceAccount();
    gmail.addUser('keys@gmail.test');
    const untrusted = { ...key, token_uri: 'https://evil.example/token' };
    const bad = await w.admin.request('POST', '/v1/accounts', {
      name: 'bad key',
      fromAddress: 'keys@gmail.test',
      provider: 'gmail',
      gmail: { serviceAccountKey: JSON.stringify(untrusted) },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('gmail_key_invalid');
    expect(JSON.stringify(bad.body)).not.toContain('PRIVATE KEY');
    const good = await w.admin.request('POST', '/v1/accounts', {
      name: 'trial',
      fromAddress: 'keys@gmail.test',
      provider: 'gmail',
      gmail: { serviceAccountKey: key, workspaceTrial: true },
    });
    expect(good.status).toBe(201);
    expect(good.body).toMatchObject({ provider: 'gmail', gmail: { user: 'keys@gmail.test', workspaceTrial: true }, settings: { dailyLimit: 500 } });
    const got = await w.admin.request('GET', `/v1/accounts/${good.body.id}`);
    expect(JSON.stringify(got.body)).not.toContain(key.private_key.slice(40, 80));
    await w.admin.request('POST', `/v1/accounts/${good.body.id}/pause`, { reason: 'not used by this test' });
  });

  it('sends through the Gmail API: each message once, From the user, Gmail ids recorded', async () => {
    const user = 'alice@gmail.test';
    const account = await registerGmail(user);
    const ids = await send(account, 12, 'ga');
    await waitFor(async () => allIn(await rowsOf(ids), ids, 'sent'), { timeoutMs: 20_000, message: 'not all sent' });
    const sent = gmail.sent(user);
    expect(sent).toHaveLength(12);
    expect(new Set(sent.map((m) => m.messageId)).size).toBe(12);
    for (const m of sent) expect(m.from).toBe(user);
    const byHeader = new Map(sent.map((m) => [m.messageId, m.id]));
    for (const r of await rowsOf(ids)) expect(r.reply).toBe(`gmail id ${byHeader.get(r.header_message_id)}`);
  });

  it('kill -9 between Gmail’s acceptance and the ledger write: found in Sent, recorded sent, never sent twice', async () => {
    const user = 'bob@gmail.test';
    const account = await registerGmail(user);
    let stored = 0;
    const killed = new Promise<void>((resolve) => {
      gmail.onSendStored = async (u) => {
        if (u !== user) return;
        stored++;
        gmail.onSendStored = undefined;
        await w.platform.services.get('sender')!.kill9();
        resolve();
      };
    });
    const ids = await send(account, 1, 'gb');
    await killed;
    expect(stored).toBe(1);
    expect((await rowsOf(ids))[0]!.state).toBe('sending');
    await w.platform.startService('sender');
    await waitFor(async () => allIn(await rowsOf(ids), ids, 'sent'), { timeoutMs: 30_000, message: `not recorded sent:\n${w.platform.logs('sender').slice(-3000)}` });
    const sent = gmail.sent(user);
    expect(sent).toHaveLength(1);
    // Settled by a Sent-mail search, not by a second send.
    expect(gmail.requests.filter((r) => r.user === user && r.call === 'send')).toHaveLength(1);
    expect(gmail.requests.some((r) => r.user === user && r.call === 'list' && r.status === 200)).toBe(true);
    expect((await rowsOf(ids))[0]!.reply).toBe(`gmail id ${sent[0]!.id}`);
  }, 45_000);

  it('a 429 rateLimitExceeded pauses the account (paused_provider_limit) without using an attempt', async () => {
    const user = 'carol@gmail.test';
    const account = await registerGmail(user);
    gmail.failNext(user, 'rate-limit-429', { retryAfterSeconds: 120 });
    const ids = await send(account, 1, 'gc');
    await waitFor(async () => (await statusOf(account)).status === 'paused_provider_limit', { timeoutMs: 20_000, message: 'not paused for the provider limit' });
    const until = Date.parse((await statusOf(account)).pausedUntil ?? '');
    expect(until - Date.now()).toBeGreaterThan(60_000);
    const [row] = await rowsOf(ids);
    expect(row).toMatchObject({ state: 'retry_wait', send_failures: 0 });
    expect(gmail.sent(user)).toHaveLength(0);
  });

  it('invalid_grant suspends the account; unauthorized_client alerts a person and suspends nothing', async () => {
    const refused = 'dave@gmail.test';
    const platform = 'erin@gmail.test';
    const a = await registerGmail(refused);
    const b = await registerGmail(platform);
    gmail.failNext(refused, 'invalid-grant');
    gmail.failNext(platform, 'unauthorized-client', { times: 50 });
    await send(a, 1, 'gd');
    const ids = await send(b, 1, 'ge');
    await waitFor(async () => (await statusOf(a)).status === 'suspended', { timeoutMs: 20_000, message: 'invalid_grant did not suspend' });
    await waitFor(
      async () => {
        const alerts = (await w.admin.request('GET', '/v1/alerts')).body.alerts as Array<{ kind: string; accountId: string | null }>;
        return alerts.some((x) => x.kind === 'platform_failure' && x.accountId === b);
      },
      { timeoutMs: 20_000, message: 'no platform alert' },
    );
    expect((await statusOf(b)).status).toBe('active');
    const [row] = await rowsOf(ids);
    expect(row).toMatchObject({ state: 'retry_wait', send_failures: 0 });
  });
});
