import { describe, expect, it } from 'vitest';
import {
  REASONS,
  classifySmtpReply,
  isRetryable,
  parseEnhancedCode,
  parseReplyCode,
  type Classification,
  type SmtpReplyInput,
} from './index.js';

type Row = [name: string, input: SmtpReplyInput, expected: string];

// expected: '<scope> <retry|final> <reason>[ hard]'
const rcpt = (response: string, extra: Partial<SmtpReplyInput> = {}): SmtpReplyInput => ({ phase: 'rcpt', response, ...extra });
const at = (phase: SmtpReplyInput['phase'], response: string, extra: Partial<SmtpReplyInput> = {}): SmtpReplyInput => ({
  phase,
  response,
  ...extra,
});

const table: Row[] = [
  // Dead addresses.
  ['postfix unknown user', rcpt('550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in local recipient table'), 'message final unknown_user hard'],
  ['gmail no such user', rcpt("550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser 41be03b00d2f7-b5e1 - gsmtp"), 'message final unknown_user hard'],
  ['outlook recipient not found', rcpt('550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient bob@contoso.com not found by SMTP address lookup'), 'message final unknown_user hard'],
  ['exim no such user', rcpt('550 No Such User Here'), 'message final unknown_user hard'],
  ['exim unrouteable', rcpt('550 Unrouteable address'), 'message final unknown_user hard'],
  ['ms mailbox unavailable', rcpt('550 Requested action not taken: mailbox unavailable'), 'message final unknown_user hard'],
  ['enhanced code given apart', rcpt('Mailbox does not exist', { replyCode: 550, enhancedCode: '5.1.1' }), 'message final unknown_user hard'],
  ['gmail disabled account', rcpt('550-5.2.1 The email account that you tried to reach is disabled. Learn more at https://support.google.com/mail/?p=DisabledUser - gsmtp'), 'message final unknown_user hard'],
  ['outlook DBEB', rcpt('550 5.4.1 Recipient address rejected: Access denied. For more information see https://aka.ms/EXOSmtpErrors [AM0PR02MB1234.eurprd02.prod.outlook.com]'), 'message final unknown_user hard'],
  ['postfix domain not found', rcpt('550 5.1.2 <bob@nowhere.invalid>: Recipient address rejected: Domain not found'), 'message final unknown_domain hard'],
  ['no route to domain', rcpt('550 5.4.4 Unable to route: no mail hosts for domain'), 'message final unknown_domain hard'],
  ['postfix domain lookup pending', rcpt('450 4.1.2 <bob@slow.example>: Recipient address rejected: Domain not found'), 'message retry temporary'],
  ['gmail bad syntax', rcpt('553-5.1.3 The recipient address <bob@@example.com> is not a valid RFC 5321 address. - gsmtp'), 'message final bad_address'],
  ['501 to rcpt', rcpt('501 Syntax error in parameters or arguments'), 'message final bad_address'],
  // Mailbox and size.
  ['gmail over quota', rcpt('552-5.2.2 The email account that you tried to reach is over quota. - gsmtp'), 'message retry mailbox_full'],
  ['dovecot mailbox full', rcpt('452 4.2.2 <bob@example.com>: Mailbox full'), 'message retry mailbox_full'],
  ['bare 552 storage', at('data', '552 Requested mail action aborted: exceeded storage allocation'), 'message retry mailbox_full'],
  ['postfix size', at('message', '552 5.3.4 Message size exceeds fixed limit'), 'message final message_too_big'],
  ['gmail size', at('message', "552-5.2.3 Your message exceeded Google's message size limits. - gsmtp"), 'message final message_too_big'],
  ['bare 552 size', at('message', '552 Message size exceeds maximum permitted'), 'message final message_too_big'],
  // Policy, spam, content.
  ['gmail spam', at('message', '550-5.7.1 [203.0.113.5] Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked. - gsmtp'), 'message final spam_blocked'],
  ['postfix spamhaus', rcpt('554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org'), 'message final spam_blocked'],
  ['outlook block list', rcpt("550 5.7.1 Unfortunately, messages from [203.0.113.5] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150)."), 'message final spam_blocked'],
  ['gmail dmarc', at('message', '550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM. - gsmtp'), 'message final policy'],
  ['postfix access denied', rcpt('554 5.7.1 <bob@example.com>: Recipient address rejected: Access denied'), 'message final policy'],
  ['postfix reverse dns (temporary)', rcpt('450 4.7.1 Client host rejected: cannot find your reverse hostname, [203.0.113.5]'), 'message retry policy'],
  ['exim virus', at('message', '550 This message contains a virus (Eicar-Test-Signature)'), 'message final content_rejected'],
  ['gmail dangerous content', at('message', '552-5.7.0 This message was blocked because its content presents a potential security issue. - gsmtp'), 'message final content_rejected'],
  // The account.
  ['relay access denied', rcpt('554 5.7.1 <bob@example.com>: Relay access denied'), 'account final relay_denied'],
  ['exchange unable to relay', rcpt('550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain'), 'account final relay_denied'],
  ['postfix login mismatch', at('mail', '553 5.7.1 <alice@other.com>: Sender address rejected: not owned by user alice@example.com'), 'account final sender_rejected'],
  ['unknown sender at MAIL', at('mail', '550 5.1.1 <alice@example.com>: Sender address rejected: User unknown in virtual mailbox table'), 'account final sender_rejected'],
  ['outlook send as', at('message', '550 5.7.60 SMTP; Client does not have permissions to send as this sender'), 'account final sender_rejected'],
  ['gmail bad credentials', at('auth', '535-5.7.8 Username and Password not accepted. Learn more at https://support.google.com/mail/?p=BadCredentials - gsmtp', { replyCode: 535, errorCode: 'EAUTH' }), 'account final auth_failed'],
  ['outlook smtp auth disabled', at('auth', '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.'), 'account final auth_failed'],
  ['gmail app password', at('auth', '534-5.7.9 Application-specific password required. - gsmtp'), 'account final auth_failed'],
  ['gmail too many logins', at('auth', '454-4.7.0 Too many login attempts, please try again later. - gsmtp'), 'account retry rate_limited'],
  ['temporary auth failure', at('auth', '454 4.7.0 Temporary authentication failure'), 'account retry temporary'],
  ['gmail auth required', at('mail', '530-5.7.0 Authentication Required. Learn more at https://support.google.com/mail/?p=WantAuthError - gsmtp'), 'account final auth_required'],
  ['outlook not authenticated', at('mail', '530 5.7.57 Client not authenticated to send mail. [DB8PR04CA0001.eurprd04.prod.outlook.com]'), 'account final auth_required'],
  ['starttls required', at('mail', '530 5.7.0 Must issue a STARTTLS command first.'), 'account final tls_failed'],
  // Rate limits.
  ['gmail daily quota', at('mail', '550 5.4.5 Daily user sending quota exceeded. 41be03b00d2f7 - gsmtp'), 'account retry rate_limited'],
  ['gmail try later', at('mail', '421 4.7.0 Try again later, closing connection. (MAIL) 41be03b00d2f7 - gsmtp'), 'account retry rate_limited'],
  ['gmail unsolicited rate', rcpt('421-4.7.28 [203.0.113.5] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. - gsmtp'), 'account retry rate_limited'],
  ['outlook submission quota', at('message', '554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception'), 'account retry rate_limited'],
  ['postfix anvil', at('mail', '421 4.7.0 mail.example.com Error: too many connections from 203.0.113.5'), 'account retry rate_limited'],
  ['yahoo TSS04', rcpt('421 4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes'), 'account retry rate_limited'],
  ['exim ratelimit', rcpt('451 4.7.1 Sending rate exceeded, try again later'), 'account retry rate_limited'],
  ['gmail recipient receiving too fast', rcpt('450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. - gsmtp'), 'message retry temporary'],
  // Temporary.
  ['postgrey', rcpt('450 4.2.0 <bob@example.com>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.com.html'), 'message retry greylisted'],
  ['exim greylist', rcpt('451 Temporarily rejected. Try again later.'), 'message retry greylisted'],
  ['postfix queue write', at('message', '451 4.3.0 Error: queue file write error'), 'message retry temporary'],
  ['outlook server busy', rcpt('451 4.7.500 Server busy. Please try again later from [203.0.113.5]. (S77714)'), 'account retry server_unavailable'],
  ['421 at rcpt', rcpt('421 4.3.2 Service not available, closing transmission channel'), 'account retry server_unavailable'],
  ['insufficient system storage', rcpt('452 4.3.1 Insufficient system storage'), 'account retry server_unavailable'],
  ['transaction failed', at('message', '554 Transaction failed'), 'message final unknown'],
  // Before any envelope.
  ['greeting busy', at('greeting', '421 mx.example.com Service not available - too busy', { errorCode: 'ECONNECTION' }), 'account retry server_unavailable'],
  ['greeting blocked', at('greeting', '554 5.7.1 mx.example.com ESMTP not accepting messages; your IP is blocked'), 'account final spam_blocked'],
  ['tls unavailable', at('tls', '454 4.7.0 TLS not available due to local problem'), 'account retry tls_failed'],
  // Errors with no reply.
  ['refused', { phase: 'connect', errorCode: 'ECONNREFUSED' }, 'account retry connection_failed'],
  ['connect timeout', { phase: 'connect', errorCode: 'ETIMEDOUT' }, 'account retry timeout'],
  ['dns', { phase: 'connect', errorCode: 'EDNS' }, 'account retry connection_failed'],
  ['not found', { phase: 'connect', errorCode: 'ENOTFOUND' }, 'account retry connection_failed'],
  ['tls error', { phase: 'tls', errorCode: 'ETLS' }, 'account retry tls_failed'],
  ['bad certificate', { phase: 'tls', errorCode: 'CERT_HAS_EXPIRED' }, 'account retry tls_failed'],
  ['socket drop during data', { phase: 'data', errorCode: 'ESOCKET' }, 'account retry connection_failed'],
  ['missing credentials', { phase: 'auth', errorCode: 'EAUTH' }, 'account final auth_failed'],
  ['out of file descriptors', { phase: 'connect', errorCode: 'EMFILE' }, 'platform retry connection_failed'],
  ['no recipients', { phase: 'rcpt', errorCode: 'EENVELOPE' }, 'message final bad_address'],
  ['nothing known', { phase: 'message' }, 'message retry unknown'],
];

function show(c: Classification): string {
  return `${c.scope} ${c.retryable ? 'retry' : 'final'} ${c.reason}${c.hard ? ' hard' : ''}`;
}

describe('classifySmtpReply', () => {
  it.each(table)('%s', (_name, input, expected) => {
    const result = classifySmtpReply(input);
    expect(show(result)).toBe(expected);
    expect(isRetryable(input)).toBe(result.retryable);
    expect(REASONS).toContain(result.reason);
  });

  it('marks only dead addresses hard', () => {
    for (const [, input] of table) {
      const c = classifySmtpReply(input);
      expect(c.hard).toBe(!c.retryable && (c.reason === 'unknown_user' || c.reason === 'unknown_domain'));
      if (c.hard) expect(c.scope).toBe('message');
    }
  });

  it('lets the reply code decide permanence over the errno', () => {
    const c = classifySmtpReply({ phase: 'rcpt', errorCode: 'EENVELOPE', replyCode: 550, response: '550 5.1.1 User unknown' });
    expect(show(c)).toBe('message final unknown_user hard');
  });

  it('does not read an IP address as an enhanced code', () => {
    const c = classifySmtpReply(rcpt('550 Recipient rejected by [10.5.1.1]'));
    expect(c.reason).not.toBe('unknown_user');
  });

  it('keeps a DKIM failure at RCPT from looking like our own auth failure', () => {
    const c = classifySmtpReply(at('message', '550 5.7.1 Message rejected: DKIM authentication failed'));
    expect(show(c)).toBe('message final policy');
  });
});

describe('parseEnhancedCode', () => {
  it.each([
    ['550 5.1.1 <x@y>: Recipient address rejected', '5.1.1'],
    ['550-5.7.1 [10.5.1.1] Our system has detected', '5.7.1'],
    ['5.2.2 mailbox full', '5.2.2'],
    ['550 #5.1.0 Address rejected', '5.1.0'],
    ['550 5.1.10 RESOLVER.ADR.RecipientNotFound', '5.1.10'],
    ['421 Try again (code 4.7.0).', '4.7.0'],
    ['554 Transaction failed', undefined],
    ['550 rejected by 10.5.1.1', undefined],
    ['', undefined],
  ])('%s → %s', (text, code) => {
    expect(parseEnhancedCode(text)?.code).toBe(code);
  });

  it('splits the parts', () => {
    expect(parseEnhancedCode('452 4.2.2 full')).toEqual({ code: '4.2.2', class: 4, subject: 2, detail: 2 });
  });

  it('reads the basic reply code', () => {
    expect(parseReplyCode('550-5.1.1 x')).toBe(550);
    expect(parseReplyCode('250')).toBe(250);
    expect(parseReplyCode('5.1.1 x')).toBeUndefined();
    expect(parseReplyCode(undefined)).toBeUndefined();
  });
});
