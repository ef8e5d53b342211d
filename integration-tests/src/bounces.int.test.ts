import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@postbus/db';
import { RawSmtpClient, startMailServer, waitFor, type MailServer } from '@postbus/testing';
import { startWorld, type World } from './fixtures.js';

const PASSWORD = 'sender secret 42';
const FBL_PASSWORD = 'feedback loop secret';
const DAVE_PASSWORD = 'dave pw';
const UNSUB_PASSWORD = 'unsubscribe mailbox secret';
const VERP_PASSWORD = 'verp account secret';

/** The raw source of every message in a user's INBOX on the test mail server. */
async function inbox(mail: MailServer, user: string, pass: string): Promise<string[]> {
  const imap = new ImapFlow({ host: mail.host, port: mail.imapPort, secure: false, doSTARTTLS: false, auth: { user, pass }, logger: false });
  await imap.connect();
  try {
    const box = await imap.mailboxOpen('INBOX', { readOnly: true });
    if (box.exists === 0) return [];
    return (await imap.fetchAll('1:*', { source: true })).map((m) => m.source?.toString('utf8') ?? '');
  } finally {
    await imap.logout();
  }
}

async function stateOf(w: World, messageId: string): Promise<string | undefined> {
  const [row] = await w.db.query(sql`SELECT state FROM deliveries WHERE message_id = ${messageId}`);
  return row?.state as string | undefined;
}

async function send(w: World, to: string, subject: string, accountId?: string): Promise<string> {
  const res = await w.admin.request('POST', '/v1/messages', { messages: [{ to, subject, text: `Hello ${to}.`, ...(accountId ? { accountId } : {}) }] });
  expect(res.status).toBe(202);
  return (res.body.messages as Array<{ id: string }>)[0]!.id;
}

/** An ARF report (RFC 5965) as a feedback loop sends it, quoting the headers of one of our messages. */
function arfReport(to: string, complainer: string, originalMessageId: string): string {
  const b = 'arf-boundary-1';
  return [
    'From: feedback@fbl.provider.test',
    `To: ${to}`,
    'Subject: Complaint about message',
    'Message-ID: <report-1@fbl.provider.test>',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=feedback-report; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain',
    '',
    'This is an email abuse report for an email message received from IP 127.0.0.1.',
    `--${b}`,
    'Content-Type: message/feedback-report',
    '',
    'Feedback-Type: abuse',
    'User-Agent: TestFBL/1.0',
    'Version: 1',
    `Original-Rcpt-To: ${complainer}`,
    'Source-IP: 127.0.0.1',
    '',
    `--${b}`,
    'Content-Type: text/rfc822-headers',
    '',
    `From: sender@mail.test`,
    `To: ${complainer}`,
    `Message-ID: <${originalMessageId}>`,
    'Subject: Hello',
    '',
    `--${b}--`,
    '',
  ].join('\r\n');
}

describe('bounces and complaints, end to end: Postfix, Dovecot, the bounce processor', () => {
  let mail: MailServer;
  let w: World;
  let accountId: string;
  let aliceMessage = '';
  beforeAll(async () => {
    mail = await startMailServer({ domain: 'mail.test', users: [{ user: 'sender', password: PASSWORD }, { user: 'alice', password: 'alice pw' }, { user: 'carol', password: 'carol pw' }, { user: 'dave', password: DAVE_PASSWORD }, { user: 'unsub', password: UNSUB_PASSWORD }, { user: 'verper', password: VERP_PASSWORD }, { user: 'erin', password: 'erin pw' }, { user: 'fbl', password: FBL_PASSWORD }] });
    w = await startWorld({ users: [], services: ['admin', 'orchestrator', 'sender', 'projector', 'bounce-processor'], env: { POSTBUS_BOUNCES_POLL_MS: '300', POSTBUS_RATE_MIN_SAMPLE: '4', POSTBUS_UNSUBSCRIBE_MAILBOX: 'unsub@mail.test', POSTBUS_BOUNCES_MAX_REPORT_BYTES: String(256 * 1024) } });
    const res = await w.admin.request('POST', '/v1/accounts', {
      name: 'postfix account',
      fromAddress: mail.address('sender'),
      smtp: { host: '127.0.0.1', port: mail.smtpPort, tls: 'none', user: 'sender', password: PASSWORD },
      dailyLimit: 1000,
      postalAddress: '1 Test Street, Testville',
    });
    expect(res.status).toBe(201);
    accountId = res.body.id as string;
    const box = await w.admin.request('POST', '/v1/mailboxes', { accountId, host: '127.0.0.1', port: mail.imapPort, tls: 'none', username: 'sender', password: PASSWORD });
    expect(box.status).toBe(201);
    expect(JSON.stringify(box.body)).not.toContain(PASSWORD);
  }, 90_000);
  afterAll(async () => {
    await w?.close();
    await mail?.stop();
  });

  it('Postfix’s own DSN for an unknown user suppresses the address; a later send to it is refused; a live address is not touched', async () => {
    const good = await send(w, mail.address('alice'), 'for alice');
    aliceMessage = good;
    const dead = await send(w, mail.address('nobody'), 'for nobody');
    await waitFor(async () => (await stateOf(w, dead)) === 'sent' && (await stateOf(w, good)) === 'sent', { timeoutMs: 30_000, message: 'both messages were not sent' });
    const sentAt = Date.now();
    await waitFor(
      async () => {
        const res = await w.admin.request('GET', `/v1/suppressions?q=${encodeURIComponent(mail.address('nobody'))}`);
        return (res.body.suppressions as unknown[]).length === 1;
      },
      { timeoutMs: 30_000, message: `the bounce did not suppress the address\n${mail.logs().slice(-3000)}` },
    );
    console.log(`sent → suppressed (Postfix DSN → Dovecot → IMAP poll every 300 ms → suppression): ${Date.now() - sentAt} ms`);
    const alice = await w.admin.request('GET', `/v1/suppressions?q=${encodeURIComponent(mail.address('alice'))}`);
    expect(alice.body.suppressions).toEqual([]);

    // The read table and its admin view: one hard bounce, unknown user, for that message.
    await waitFor(async () => ((await w.admin.request('GET', `/v1/bounces?accountId=${accountId}`)).body.bounces as unknown[]).length === 1, { timeoutMs: 15_000, message: 'bounce_list not filled' });
    const [bounce] = (await w.admin.request('GET', `/v1/bounces?accountId=${accountId}`)).body.bounces as Array<Record<string, unknown>>;
    expect(bounce).toMatchObject({ kind: 'bounce', messageId: dead, accountId, severity: 'hard', reason: 'unknown_user', status: '5.1.1', suppressed: true });
    expect(JSON.stringify(bounce)).not.toContain('nobody@');

    // A later send to the dead address is refused at the claim.
    const again = await send(w, mail.address('nobody'), 'for nobody, again');
    await waitFor(async () => (await stateOf(w, again)) === 'suppressed', { timeoutMs: 20_000, message: 'the later send was not suppressed' });

    // Read again from the start (a restarted processor): nothing is counted twice.
    await w.platform.services.get('bounce-processor')!.stop();
    await w.db.query(sql`UPDATE feedback_mailboxes SET last_uid = 0`);
    await w.platform.startService('bounce-processor');
    await waitFor(async () => ((await w.db.query(sql`SELECT last_uid FROM feedback_mailboxes`))[0]?.last_uid as number) > 0, { timeoutMs: 15_000, message: 'the mailbox was not read again' });
    const [{ n }] = (await w.db.query(sql`SELECT count(*)::int AS n FROM bounces`)) as Array<{ n: number }>;
    expect(n).toBe(1);
  }, 120_000);

  it('an unsubscribe mailed to the List-Unsubscribe mailto: suppresses the address it was sent to', async () => {
    const box = await w.admin.request('POST', '/v1/mailboxes', { host: '127.0.0.1', port: mail.imapPort, tls: 'none', username: 'unsub', password: UNSUB_PASSWORD });
    expect(box.status).toBe(201);
    const id = await send(w, mail.address('dave'), 'for dave');
    await waitFor(async () => (await stateOf(w, id)) === 'sent', { timeoutMs: 30_000, message: 'not sent' });
    let received = '';
    await waitFor(async () => Boolean((received = (await inbox(mail, 'dave', DAVE_PASSWORD))[0] ?? '')), { timeoutMs: 15_000, message: 'dave got nothing' });
    const header = /^List-Unsubscribe: (.*(?:\r\n[ \t].*)*)/m.exec(received)?.[1] ?? '';
    const mailto = /<mailto:(unsub@mail\.test)\?subject=([^>]+)>/.exec(header);
    expect(mailto, header).not.toBeNull();
    const subject = decodeURIComponent(mailto![2]!);
    expect(subject).toMatch(/^unsubscribe [A-Za-z0-9_-]+$/);
    // What a mail client does with it: a mail to that address with that subject, from the recipient.
    const { client } = await RawSmtpClient.connect(mail.smtpPort);
    await client.command('EHLO client.test');
    const tx = await client.transaction(mail.address('dave'), ['unsub@mail.test'], `From: ${mail.address('dave')}\r\nTo: unsub@mail.test\r\nSubject: ${subject}\r\nMessage-ID: <unsub-1@client.test>\r\n\r\nunsubscribe\r\n`);
    expect(tx.end?.code).toBe(250);
    await client.quit();
    await waitFor(
      async () => ((await w.admin.request('GET', `/v1/suppressions?q=${encodeURIComponent(mail.address('dave'))}`)).body.suppressions as unknown[]).length === 1,
      { timeoutMs: 30_000, message: `the mailed unsubscribe did not suppress\n${mail.logs().slice(-3000)}` },
    );
    const [row] = (await w.admin.request('GET', `/v1/suppressions?q=${encodeURIComponent(mail.address('dave'))}`)).body.suppressions as Array<Record<string, unknown>>;
    expect(row).toMatchObject({ reason: 'unsubscribed', source: 'bounce-processor' });
  }, 90_000);

  it('a feedback-loop complaint (ARF) for one of our messages suppresses its recipient and is counted as a complaint', async () => {
    const fbl = await w.admin.request('POST', '/v1/mailboxes', { host: '127.0.0.1', port: mail.imapPort, tls: 'none', username: 'fbl', password: FBL_PASSWORD });
    expect(fbl.status).toBe(201);
    const complainer = 'carol@mail.test';
    const id = await send(w, complainer, 'for carol');
    await waitFor(async () => (await stateOf(w, id)) === 'sent', { timeoutMs: 30_000, message: 'not sent' });
    const [row] = await w.db.query(sql`SELECT header_message_id FROM deliveries WHERE message_id = ${id}`);
    const headerId = (row!.header_message_id as string).replace(/^<|>$/g, '');
    const { client } = await RawSmtpClient.connect(mail.smtpPort);
    await client.command('EHLO fbl.provider.test');
    const tx = await client.transaction('feedback@fbl.provider.test', [mail.address('fbl')], arfReport(mail.address('fbl'), complainer, headerId));
    expect(tx.end?.code).toBe(250);
    await client.quit();
    await waitFor(
      async () => ((await w.admin.request('GET', `/v1/bounces?accountId=${accountId}&kind=complaint`)).body.bounces as unknown[]).length === 1,
      { timeoutMs: 30_000, message: `the complaint was not recorded\n${mail.logs().slice(-3000)}` },
    );
    const suppressed = await w.admin.request('GET', `/v1/suppressions?q=${encodeURIComponent(complainer)}`);
    expect(suppressed.body.suppressions).toMatchObject([{ reason: 'complaint', source: 'bounce-processor' }]);
    const summary = await w.admin.request('GET', `/v1/bounces/summary?accountId=${accountId}`);
    expect(summary.body.summary).toEqual([{ accountId, campaignId: null, hard: 1, soft: 0, sender: 0, complaints: 1 }]);
  }, 90_000);

  it('VERP: the return path names the message, so even a report that names nothing is tied to it', async () => {
    const res = await w.admin.request('POST', '/v1/accounts', {
      name: 'verp account',
      fromAddress: mail.address('verper'),
      smtp: { host: '127.0.0.1', port: mail.smtpPort, tls: 'none', user: 'verper', password: VERP_PASSWORD },
      dailyLimit: 1000,
      postalAddress: '1 Test Street, Testville',
      verp: true,
    });
    expect(res.status).toBe(201);
    expect(res.body.settings.verp).toBe(true);
    const verpAccount = res.body.id as string;
    expect((await w.admin.request('POST', '/v1/mailboxes', { accountId: verpAccount, host: '127.0.0.1', port: mail.imapPort, tls: 'none', username: 'verper', password: VERP_PASSWORD })).status).toBe(201);

    // A real bounce through Postfix: the DSN goes to verper+pb-<id>@, delivered to verper's mailbox.
    const lost = await send(w, 'nobody-verp@mail.test', 'for nobody, by VERP', verpAccount);
    await waitFor(async () => ((await w.admin.request('GET', `/v1/bounces?accountId=${verpAccount}`)).body.bounces as unknown[]).length === 1, { timeoutMs: 30_000, message: 'the VERP bounce was not read' });
    const verpDsn = (await inbox(mail, 'verper', VERP_PASSWORD)).find((m) => /report-type=delivery-status/i.test(m)) ?? '';
    expect(verpDsn).toMatch(new RegExp(`^To: <?verper\\+pb-${lost.slice(4).toLowerCase()}@mail\\.test`, 'im'));

    // An unhelpful report: no recipient, no returned message, only the text — and the VERP address.
    const erin = await send(w, 'erin@mail.test', 'for erin', verpAccount);
    await waitFor(async () => (await stateOf(w, erin)) === 'sent', { timeoutMs: 30_000, message: 'not sent' });
    const verp = `verper+pb-${erin.slice(4).toLowerCase()}@mail.test`;
    const { client } = await RawSmtpClient.connect(mail.smtpPort);
    await client.command('EHLO mx.remote.test');
    const body = `From: MAILER-DAEMON@mx.remote.test\r\nTo: ${verp}\r\nSubject: Undeliverable: for erin\r\nMessage-ID: <ndr-1@mx.remote.test>\r\n\r\nDelivery has failed to these recipients or groups.\r\nThe email account that you tried to reach does not exist. 550 5.1.1 RESOLVER.ADR.RecipNotFound; not found\r\n`;
    const tx = await client.transaction('', [verp], body);
    expect(tx.end?.code).toBe(250);
    await client.quit();
    await waitFor(
      async () => ((await w.admin.request('GET', `/v1/bounces?accountId=${verpAccount}`)).body.bounces as unknown[]).length === 2,
      { timeoutMs: 30_000, message: `the unhelpful report was not tied to its message\n${w.platform.logs('bounce-processor').slice(-2000)}` },
    );
    const bounces = (await w.admin.request('GET', `/v1/bounces?accountId=${verpAccount}`)).body.bounces as Array<Record<string, unknown>>;
    expect(bounces.find((b) => b.messageId === erin)).toMatchObject({ severity: 'hard', reason: 'unknown_user', suppressed: true });
    // Pages of one, newest first, by cursor.
    const first = (await w.admin.request('GET', `/v1/bounces?accountId=${verpAccount}&limit=1`)).body;
    expect(first.bounces).toHaveLength(1);
    const second = (await w.admin.request('GET', `/v1/bounces?accountId=${verpAccount}&limit=1&after=${first.next as string}`)).body;
    expect(second.bounces).toHaveLength(1);
    expect(second.next).toBeNull();
    expect(new Set([first.bounces[0].eventId, second.bounces[0].eventId]).size).toBe(2);
    expect((await w.admin.request('GET', `/v1/suppressions?q=${encodeURIComponent('erin@mail.test')}`)).body.suppressions).toHaveLength(1);
  }, 90_000);

  it('garbage, a report cut at the size limit and a report for no message of ours are logged and skipped; the next report is processed', async () => {
    const deliver = async (raw: string) => {
      const { client } = await RawSmtpClient.connect(mail.smtpPort);
      await client.command('EHLO mx.remote.test');
      const tx = await client.transaction('', [mail.address('sender')], raw);
      expect(tx.end?.code).toBe(250);
      await client.quit();
    };
    const before = Number((await w.db.query(sql`SELECT count(*)::int AS n FROM feedback_reports`))[0]!.n);
    await deliver('\x00\x01garbage without any header\r\n\r\n\xff\xfe');
    await deliver(`From: MAILER-DAEMON@mx.remote.test\r\nTo: sender@mail.test\r\nSubject: Undelivered Mail Returned to Sender\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n${'A very long notice line. '.repeat(20_000)}\r\n--b\r\n`);
    await deliver(`From: MAILER-DAEMON@mx.remote.test\r\nTo: sender@mail.test\r\nSubject: Undelivered Mail Returned to Sender\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.remote.test\r\n\r\nFinal-Recipient: rfc822; stranger@elsewhere.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <not-ours@elsewhere.test>\r\n\r\n--b--\r\n`);
    const [row] = await w.db.query(sql`SELECT header_message_id FROM deliveries WHERE message_id = ${aliceMessage}`);
    await deliver(`From: MAILER-DAEMON@mx.remote.test\r\nTo: sender@mail.test\r\nSubject: Undelivered Mail Returned to Sender\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.remote.test\r\n\r\nFinal-Recipient: rfc822; ${mail.address('alice')}\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: ${row!.header_message_id as string}\r\n\r\n--b--\r\n`);
    await waitFor(async () => ((await w.admin.request('GET', `/v1/suppressions?q=${encodeURIComponent(mail.address('alice'))}`)).body.suppressions as unknown[]).length === 1, {
      timeoutMs: 30_000,
      message: `the report after the bad ones was not processed\n${w.platform.logs('bounce-processor').slice(-2000)}`,
    });
    const reports = await w.db.query(sql`SELECT kind, recipients, matched, note FROM feedback_reports ORDER BY processed_at OFFSET ${before}`);
    expect(reports).toEqual([
      // Postfix gives every mail a Return-Path and Received lines: garbage arrives as a mail of no known kind.
      expect.objectContaining({ kind: expect.stringMatching(/^(unreadable|unknown)$/), matched: 0 }),
      expect.objectContaining({ note: 'truncated', matched: 0 }),
      expect.objectContaining({ kind: 'bounce', recipients: 1, matched: 0, note: 'no message of ours matched' }),
      expect.objectContaining({ kind: 'bounce', recipients: 1, matched: 1 }),
    ]);
    expect(w.platform.services.get('bounce-processor')!.process.exitCode).toBeNull();
  }, 90_000);

  it('rates over the last 24 h pause the account (the orchestrator decides), with the figures in the reason', async () => {
    // 4 sent (the minimum sample here), 1 hard bounce and 1 complaint: far over 5 % and 0.3 %.
    await waitFor(
      async () => {
        const a = await w.admin.request('GET', `/v1/accounts/${accountId}`);
        return a.body.status === 'paused_bounce_rate' || a.body.status === 'paused_complaint_rate';
      },
      { timeoutMs: 30_000, message: `the account was not paused\n${w.platform.logs('orchestrator').slice(-2000)}` },
    );
    const a = await w.admin.request('GET', `/v1/accounts/${accountId}`);
    expect(a.body.statusReason).toMatch(/of 4 sent in 24 h/);
    const alerts = await w.admin.request('GET', '/v1/alerts');
    expect(JSON.stringify(alerts.body)).toContain(accountId);
  }, 60_000);
});
