import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountState } from '@postbus/contracts';
import { getGmailCursor, putSecret, sql, type SecretCipher } from '@postbus/db';
import { silentLogger } from '@postbus/telemetry';
import { startGmailStandin, startTestEnvironment, type GmailStandin, type ServiceAccountKeyFile, type TestEnvironment } from '@postbus/testing';
import { GmailMailboxes } from './adapters/gmail.js';
import { GmailPoller } from './gmail-poller.js';
import type { ProcessResult } from './processor.js';

// The store's interface only: these tests are about reading Gmail, not about encryption.
const plain: SecretCipher = { encrypt: (p) => p, decrypt: (c) => c, currentKeyId: 'test' };

/** A bounce for an address we never sent to: read, recorded, matched to nothing. */
const dsn = (user: string, n: number) =>
  [
    'From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>',
    `To: ${user}`,
    'Subject: Delivery Status Notification (Failure)',
    `Message-ID: <${randomUUID()}@mx.google.com>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain',
    '',
    `Your message wasn't delivered to stranger-${n}@else.test because the address couldn't be found.`,
    '--b',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; googlemail.com',
    '',
    `Final-Recipient: rfc822; stranger-${n}@else.test`,
    'Action: failed',
    'Status: 5.1.1',
    '',
    '--b--',
    '',
  ].join('\r\n');

describe('GmailPoller against the Gmail stand-in and a real Postgres', () => {
  let env: TestEnvironment;
  let standin: GmailStandin;
  let key: ServiceAccountKeyFile;
  const accounts: AccountState[] = [];
  const reports: Array<{ accountId: string; id: string; result: ProcessResult }> = [];
  let poller: GmailPoller;

  beforeAll(async () => {
    env = await startTestEnvironment('bounce-gmail');
    standin = await startGmailStandin();
    key = await standin.createServiceAccount();
    const mailboxes = new GmailMailboxes(env.db, plain, { apiUrl: standin.rootUrl, trustedTokenUris: [standin.tokenUri] });
    poller = new GmailPoller(
      { db: env.db, bus: env.bus, log: silentLogger(), accounts: () => accounts, mailboxes },
      { intervalMs: 1000, onReport: (accountId, id, result) => reports.push({ accountId, id, result }) },
    );
  });
  afterAll(async () => {
    await standin?.close();
    await env?.close();
  });

  /** A Gmail account as the directory holds it, its key stored as a secret. */
  async function gmailAccount(opts: { status?: string; keyFile?: object } = {}): Promise<{ id: string; user: string }> {
    const id = `acct_${randomUUID().slice(0, 8)}`;
    const user = `${id}@gmail.test`;
    standin.addUser(user);
    const secretId = `gmail:${id}`;
    await putSecret(env.db, plain, secretId, 'gmail_service_account_key', JSON.stringify(opts.keyFile ?? key));
    accounts.push({ id, provider: 'gmail', gmail: { user, secretId }, status: opts.status ?? 'active' } as unknown as AccountState);
    return { id, user };
  }
  const calls = (user: string, call: string) => standin.requests.filter((r) => r.user === user && r.call === call).length;
  const processed = (accountId: string) => reports.filter((r) => r.accountId === accountId).map((r) => r.id);

  it('lists the recent INBOX the first time, then reads history from the cursor; each message once', async () => {
    const { id, user } = await gmailAccount();
    const early = standin.deliver(user, dsn(user, 1));
    await poller.pass();
    expect(processed(id)).toEqual([early.id]);
    expect(reports.find((r) => r.id === early.id)?.result).toMatchObject({ kind: 'bounce', recipients: 1, matched: 0 });
    expect(await getGmailCursor(env.db, id)).toMatchObject({ historyId: String(standin.historyId(user)), lastError: null });
    expect(calls(user, 'history')).toBe(0);

    const later = standin.deliver(user, dsn(user, 2));
    await poller.pass();
    await poller.pass();
    expect(processed(id)).toEqual([early.id, later.id]);
    expect(calls(user, 'history')).toBe(2);
    expect(calls(user, 'get')).toBe(2);
    expect((await getGmailCursor(env.db, id))?.historyId).toBe(String(standin.historyId(user)));
  });

  it('lists again when Google no longer has the history, skipping what was processed', async () => {
    const { id, user } = await gmailAccount();
    const one = standin.deliver(user, dsn(user, 3));
    await poller.pass();
    const two = standin.deliver(user, dsn(user, 4));
    standin.expireHistory(user);
    await poller.pass();
    expect(processed(id)).toEqual([one.id, two.id]);
    expect(standin.requests.filter((r) => r.user === user && r.call === 'history').map((r) => r.status)).toEqual([404]);
    expect(calls(user, 'list')).toBe(2);
    expect(calls(user, 'get')).toBe(2); // the first was not fetched again
    const [{ n }] = (await env.db.query(sql`SELECT count(*)::int AS n FROM gmail_reports WHERE account_id = ${id}`)) as Array<{ n: number }>;
    expect(n).toBe(2);
  });

  it('leaves a rate-limited account alone until Google’s time, records a refused one, and reads the others', async () => {
    const limited = await gmailAccount();
    const refused = await gmailAccount();
    const untrusted = await gmailAccount({ keyFile: { ...key, token_uri: 'https://evil.example/token' } });
    const fine = await gmailAccount();
    const suspended = await gmailAccount({ status: 'suspended' });
    await poller.pass();
    standin.failNext(limited.user, 'rate-limit-429', { call: 'history', retryAfterSeconds: 60 });
    standin.disableUser(refused.user);
    const mail = standin.deliver(fine.user, dsn(fine.user, 5));
    await poller.pass();
    await poller.pass();

    expect(processed(fine.id)).toEqual([mail.id]);
    // Rate-limited: one refused call, then not asked again within the minute; nothing recorded as an error.
    expect(standin.requests.filter((r) => r.user === limited.user && r.call === 'history').map((r) => r.status)).toEqual([429]);
    expect((await getGmailCursor(env.db, limited.id))?.lastError).toBeNull();
    const refusedCursor = await getGmailCursor(env.db, refused.id);
    expect(refusedCursor?.lastError).toMatch(/gmail token failed: 400 invalid_grant/);
    expect((await getGmailCursor(env.db, untrusted.id))?.lastError).toMatch(/token_uri is not a Google token endpoint/);
    expect(await getGmailCursor(env.db, suspended.id)).toBeNull();
    expect(standin.requests.some((r) => r.user === suspended.user)).toBe(false);
    const errors = await env.db.query(sql`SELECT last_error FROM gmail_mailbox_cursors WHERE last_error IS NOT NULL`);
    for (const r of errors) {
      expect(r.last_error).not.toContain('PRIVATE KEY');
      for (const t of standin.accessTokens(refused.user)) expect(r.last_error).not.toContain(t);
    }
  });
});
