import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@postbus/db';
import { startGmailStandin, waitFor, type GmailStandin } from '@postbus/testing';
import { registerGmailAccount, startWorld, type World } from './fixtures.js';

/**
 * A Gmail API account's bounces come back to its own Gmail mailbox: the bounce processor reads
 * it through the API (history from a cursor; a full listing of the recent INBOX the first
 * time and once Google no longer has that history), as real processes against the stand-in.
 */

/** What Gmail's mailer-daemon sends for an address that does not exist (multipart/report, RFC 3464). */
function gmailDsn(user: string, recipient: string, original: { messageId: string; subject: string }): string {
  const b = `000000000000${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const domain = recipient.split('@')[1]!;
  const date = new Date().toUTCString().replace('GMT', '+0000');
  return [
    `Delivered-To: ${user}`,
    'Return-Path: <>',
    'Auto-Submitted: auto-replied',
    'From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>',
    `To: ${user}`,
    `References: ${original.messageId}`,
    `In-Reply-To: ${original.messageId}`,
    `X-Failed-Recipients: ${recipient}`,
    'Subject: Delivery Status Notification (Failure)',
    `Message-ID: <${randomUUID()}@mx.google.com>`,
    `Date: ${date}`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; boundary="${b}"; report-type=delivery-status`,
    '',
    `--${b}`,
    'Content-Type: text/plain; charset="UTF-8"',
    '',
    '** Address not found **',
    '',
    `Your message wasn't delivered to ${recipient} because the address couldn't be found, or is unable to receive mail.`,
    '',
    'Learn more here: https://support.google.com/mail/?p=NoSuchUser',
    '',
    'The response was:',
    '',
    '550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient\'s email address for typos or unnecessary spaces.',
    '',
    `--${b}`,
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; googlemail.com',
    `Received-From-MTA: dns; ${user}`,
    `Arrival-Date: ${date}`,
    `X-Original-Message-ID: ${original.messageId}`,
    '',
    `Final-Recipient: rfc822; ${recipient}`,
    'Action: failed',
    'Status: 5.1.1',
    `Remote-MTA: dns; mx.${domain}. (192.0.2.10, the server for the domain ${domain}.)`,
    'Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist. Please try',
    ' 550-5.1.1 double-checking the recipient\'s email address for typos or',
    ' 550-5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser',
    `Last-Attempt-Date: ${date}`,
    '',
    `--${b}`,
    'Content-Type: message/rfc822',
    '',
    `From: ${user}`,
    `To: ${recipient}`,
    `Subject: ${original.subject}`,
    `Message-ID: ${original.messageId}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset="UTF-8"',
    '',
    'Hello.',
    '',
    `--${b}--`,
    '',
  ].join('\r\n');
}

describe('Gmail accounts’ bounces, read from their own mailbox through the Gmail API', () => {
  let w: World;
  let gmail: GmailStandin;
  let accountId: string;
  const user = `bounces-${randomUUID().slice(0, 8)}@gmail.test`;

  beforeAll(async () => {
    gmail = await startGmailStandin({ sendsPerMinute: 10_000, sendsPerDay: 10_000 });
    w = await startWorld({
      users: [],
      services: ['admin', 'orchestrator', 'sender', 'projector', 'bounce-processor'],
      env: {
        POSTBUS_GMAIL_API_URL: gmail.rootUrl,
        POSTBUS_GMAIL_TRUSTED_TOKEN_URIS: gmail.tokenUri,
        POSTBUS_GMAIL_SENDS_PER_MINUTE: '6000',
        POSTBUS_BOUNCES_POLL_MS: '300',
      },
    });
    accountId = await registerGmailAccount(w, gmail, user);
  }, 60_000);
  afterAll(async () => {
    await w?.close();
    await gmail?.close();
  });

  async function sendTo(to: string, subject: string): Promise<{ id: string; headerMessageId: string }> {
    const res = await w.admin.request('POST', '/v1/messages', { messages: [{ to, subject, text: 'Hello.', accountId }] });
    expect(res.status).toBe(202);
    const id = (res.body.messages as Array<{ id: string }>)[0]!.id;
    let row: Record<string, unknown> | undefined;
    await waitFor(async () => ([row] = await w.db.query(sql`SELECT state, header_message_id FROM deliveries WHERE message_id = ${id}`)) && row?.state === 'sent', {
      timeoutMs: 20_000,
      message: 'not sent',
    });
    return { id, headerMessageId: row!.header_message_id as string };
  }
  const suppressed = async (address: string) => ((await w.admin.request('GET', `/v1/suppressions?q=${encodeURIComponent(address)}`)).body.suppressions as unknown[]).length === 1;
  const bounces = async () => (await w.admin.request('GET', `/v1/bounces?accountId=${accountId}`)).body.bounces as Array<Record<string, unknown>>;
  const cursor = async () => (await w.db.query(sql`SELECT history_id::text AS history_id, last_synced_at, last_error FROM gmail_mailbox_cursors WHERE account_id = ${accountId}`))[0];
  const logs = () => w.platform.logs('bounce-processor').slice(-3000);

  it('a DSN in the account’s INBOX suppresses the address and is a hard bounce; after history expires, a full listing finds the next one and skips the first', async () => {
    const first = await sendTo('gone-1@receiver.test', 'first');
    const second = await sendTo('gone-2@receiver.test', 'second');
    // The first pass lists the (empty) recent INBOX and keeps Gmail's history id.
    await waitFor(async () => Boolean((await cursor())?.history_id), { timeoutMs: 15_000, message: `no cursor:\n${logs()}` });

    const startedAt = Date.now();
    const dsn1 = gmail.deliver(user, gmailDsn(user, 'gone-1@receiver.test', { messageId: first.headerMessageId, subject: 'first' }));
    await waitFor(() => suppressed('gone-1@receiver.test'), { timeoutMs: 15_000, message: `not suppressed:\n${logs()}` });
    console.log(`DSN in the Gmail INBOX → suppressed (history.list every 300 ms): ${Date.now() - startedAt} ms`);
    await waitFor(async () => (await bounces()).length === 1, { timeoutMs: 15_000, message: 'bounce_list not filled' });
    expect((await bounces())[0]).toMatchObject({ kind: 'bounce', messageId: first.id, accountId, severity: 'hard', reason: 'unknown_user', status: '5.1.1', suppressed: true });
    expect(gmail.requests.some((r) => r.user === user && r.call === 'history' && r.status === 200)).toBe(true);

    // The next DSN arrives and Google forgets the history (the cursor's included) before the
    // processor looks: it is found by listing the recent INBOX again. (Synchronous: no pass between.)
    const before = (await cursor())!;
    const dsn2 = gmail.deliver(user, gmailDsn(user, 'gone-2@receiver.test', { messageId: second.headerMessageId, subject: 'second' }));
    gmail.expireHistory(user);
    await waitFor(() => suppressed('gone-2@receiver.test'), { timeoutMs: 15_000, message: `not suppressed after the resync:\n${logs()}` });
    await waitFor(async () => (await bounces()).length === 2, { timeoutMs: 15_000, message: 'second bounce not in bounce_list' });
    const mine = gmail.requests.filter((r) => r.user === user);
    expect(mine.some((r) => r.call === 'history' && r.status === 404)).toBe(true);
    expect(mine.some((r) => r.call === 'list' && /newer_than%3A7d|newer_than:7d/.test(r.url))).toBe(true);
    // Each DSN was fetched and processed once: the listing after the expiry skipped the first.
    const gets = (id: string) => mine.filter((r) => r.call === 'get' && r.url.includes(`/messages/${id}`)).length;
    expect(gets(dsn1.id)).toBe(1);
    expect(gets(dsn2.id)).toBe(1);
    const [{ n }] = (await w.db.query(sql`SELECT count(*)::int AS n FROM bounces WHERE account_id = ${accountId}`)) as Array<{ n: number }>;
    expect(n).toBe(2);
    const reports = await w.db.query(sql`SELECT gmail_message_id, kind, matched FROM gmail_reports WHERE account_id = ${accountId} ORDER BY gmail_message_id`);
    expect(reports).toEqual([
      { gmail_message_id: dsn1.id, kind: 'bounce', matched: 1 },
      { gmail_message_id: dsn2.id, kind: 'bounce', matched: 1 },
    ]);
    await waitFor(async () => (await cursor())?.history_id === String(gmail.historyId(user)), { timeoutMs: 5_000, message: 'the cursor did not move to the mailbox’s history id' });
    const after = (await cursor())!;
    expect((after.last_synced_at as Date).getTime()).toBeGreaterThan((before.last_synced_at as Date).getTime());
    expect(after.last_error).toBeNull();
  }, 60_000);
});
