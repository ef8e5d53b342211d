import { describe, expect, it } from 'vitest';
import { ReportParseError, parseReport } from '../index.js';

const dsn = (groups: string, original = 'Message-ID: <abc@postbus.test>\nX-Postbus-Message: m-1\nReturn-Path: <b@postbus.test>\nTo: bob@example.com\n') =>
  [
    'From: MAILER-DAEMON@mx.example',
    'Subject: Undelivered Mail Returned to Sender',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
    '',
    '--B',
    'Content-Type: text/plain',
    '',
    'I am sorry.',
    '--B',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example',
    '',
    groups,
    '--B',
    'Content-Type: text/rfc822-headers',
    '',
    original,
    '--B--',
  ].join('\n');

describe('parseReport', () => {
  it('reads a DSN: recipients, codes, reporting MTA and the returned headers', () => {
    const r = parseReport(dsn('Final-Recipient: rfc822; <Bob@Example.com>\nAction: failed\nStatus: 5.1.1\nRemote-MTA: dns; mx.example.com\nDiagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: User unknown'));
    expect(r).toMatchObject({ kind: 'bounce', reportingMta: 'mx.example', truncated: false });
    expect(r.recipients).toEqual([
      {
        recipient: 'bob@example.com',
        action: 'failed',
        status: '5.1.1',
        replyCode: 550,
        diagnostic: '550 5.1.1 <bob@example.com>: User unknown',
        remoteMta: 'mx.example.com',
        reason: 'unknown_user',
        severity: 'hard',
        suppress: true,
      },
    ]);
    expect(r.original.messageId).toBe('abc@postbus.test');
    expect(r.original.headers).toMatchObject({ 'x-postbus-message': 'm-1', 'return-path': '<b@postbus.test>', to: 'bob@example.com' });
  });

  it('reads the report mail’s own top header fields, unfolded, first occurrence', () => {
    const h = parseReport('Subject: unsubscribe\r\n abc\r\nSubject: second\r\nTo: a@b.c\r\n\r\nSubject: body\r\n').headers;
    expect(h).toEqual({ subject: 'unsubscribe abc', to: 'a@b.c' });
  });

  it('a delay is kind delay and never suppresses', () => {
    const r = parseReport(dsn('Final-Recipient: rfc822; bob@example.com\nAction: delayed\nStatus: 4.4.1\nDiagnostic-Code: smtp; 450 4.1.1 user unknown'));
    expect(r.kind).toBe('delay');
    expect(r.recipients[0]).toMatchObject({ severity: 'soft', suppress: false });
  });

  it('a policy block with 5xx never suppresses', () => {
    const r = parseReport(dsn('Final-Recipient: rfc822; bob@gmail.com\nAction: failed\nStatus: 5.7.26\nDiagnostic-Code: smtp; 550-5.7.26 Unauthenticated email from postbus.test is not accepted due to domain\'s DMARC policy'));
    expect(r.recipients[0]).toMatchObject({ reason: 'auth_failed', severity: 'sender', suppress: false });
  });

  it('an expiry after retries is a soft bounce', () => {
    const r = parseReport(dsn('Final-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: 4.4.7\nDiagnostic-Code: smtp; 554 4.4.7 Message expired: unable to deliver in 840 minutes.<421 4.4.2 Connection timed out>'));
    expect(r.kind).toBe('bounce');
    expect(r.recipients[0]).toMatchObject({ status: '4.4.7', reason: 'expired', severity: 'soft', suppress: false });
  });

  it('skips delivered and relayed recipients', () => {
    const r = parseReport(dsn('Final-Recipient: rfc822; bob@example.com\nAction: relayed\nStatus: 2.0.0'));
    expect(r).toMatchObject({ kind: 'unknown', recipients: [] });
  });

  it('reads an ARF complaint', () => {
    const mail = [
      'From: staff@hotmail.com',
      'Subject: complaint about message from 192.0.2.1',
      'Content-Type: multipart/report; report-type=feedback-report; boundary="F"',
      '',
      '--F',
      'Content-Type: text/plain',
      '',
      'This is an email abuse report',
      '--F',
      'Content-Type: message/feedback-report',
      '',
      'Feedback-Type: abuse',
      'User-Agent: Hotmail FBL',
      'Version: 1',
      'Arrival-Date: Tue, 1 Jan 2030 00:00:00 +0000',
      'Source-IP: 192.0.2.1',
      '',
      '--F',
      'Content-Type: message/rfc822',
      '',
      'Message-ID: <m1@postbus.test>',
      'To: Jane <Jane@Example.org>',
      '',
      'hi',
      '--F--',
    ].join('\n');
    const r = parseReport(mail);
    expect(r.kind).toBe('complaint');
    expect(r.complaint).toEqual({ feedbackType: 'abuse', userAgent: 'Hotmail FBL', originalRecipient: 'jane@example.org', arrivalDate: 'Tue, 1 Jan 2030 00:00:00 +0000', sourceIp: '192.0.2.1' });
    expect(r.recipients).toEqual([{ recipient: 'jane@example.org', reason: 'complained', severity: 'sender', suppress: true }]);
    expect(r.original.messageId).toBe('m1@postbus.test');
  });

  it('reads a qmail bounce from its text', () => {
    const r = parseReport(
      'From: MAILER-DAEMON@q.example\nSubject: failure notice\n\nHi. This is the qmail-send program at q.example.\nI\'m afraid I wasn\'t able to deliver your message to the following addresses.\nThis is a permanent error; I\'ve given up. Sorry it didn\'t work out.\n\n<bob@example.com>:\n192.0.2.1 does not like recipient.\nRemote host said: 550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown\nGiving up on 192.0.2.1.\n\n--- Below this line is a copy of the message.\n\nMessage-ID: <q1@postbus.test>\nTo: bob@example.com\n\nbody\n',
    );
    expect(r.kind).toBe('bounce');
    expect(r.recipients.map((x) => [x.recipient, x.status, x.replyCode, x.reason, x.suppress])).toEqual([['bob@example.com', '5.1.1', 550, 'unknown_user', true]]);
    expect(r.original.messageId).toBe('q1@postbus.test');
  });

  it('an auto-reply has no recipients', () => {
    const r = parseReport('From: Bob <bob@example.com>\nAuto-Submitted: auto-replied\nSubject: Out of Office: hello\n\nI am away until Monday.\n');
    expect(r).toMatchObject({ kind: 'auto_reply', recipients: [] });
    expect(parseReport('From: bob@example.com\nSubject: =?UTF-8?Q?Automatische_Antwort?=\n\nweg').kind).toBe('auto_reply');
  });

  it('an unsubscribe request suppresses its sender', () => {
    const r = parseReport('From: "Bob" <Bob@Example.com>\nTo: unsubscribe+t0k3n@postbus.test\nSubject: unsubscribe\n\n');
    expect(r).toMatchObject({ kind: 'unsubscribe', recipients: [{ recipient: 'bob@example.com', reason: 'unsubscribed', severity: 'sender', suppress: true }] });
  });

  it('throws only the typed error, for empty or non-mail input', () => {
    expect(() => parseReport('')).toThrow(ReportParseError);
    expect(() => parseReport(new Uint8Array(0))).toThrow(ReportParseError);
    expect(() => parseReport('   \n\n')).toThrow(ReportParseError);
    expect(() => parseReport('just some words\nwith no header')).toThrow(ReportParseError);
    expect(parseReport('Subject: hello\n\nbody').kind).toBe('unknown');
  });

  it('truncates input over 10 MiB and says so', () => {
    const big = `Subject: x\n\n${'a'.repeat(10 * 1024 * 1024 + 10)}`;
    expect(parseReport(big).truncated).toBe(true);
  });
});
