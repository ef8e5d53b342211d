import { describe, expect, it } from 'vitest';
import { classifyBounce, type BounceInput } from '../index.js';

type Row = [name: string, input: BounceInput, expected: string];

// expected: '<reason> <severity>'; suppress is true exactly when severity is hard.
const table: Row[] = [
  // Dead addresses: hard.
  ['status 5.1.1, no text', { status: '5.1.1' }, 'unknown_user hard'],
  ['postfix user unknown', { status: '5.1.1', diagnostic: '550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in local recipient table' }, 'unknown_user hard'],
  ['gmail no such user', { diagnostic: "550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address" }, 'unknown_user hard'],
  ['yahoo no account', { replyCode: 554, diagnostic: "delivery error: dd This user doesn't have a yahoo.com account (bob@yahoo.com) [0] - mta1.mail.example" }, 'unknown_user hard'],
  ['exchange resolver', { status: '5.1.10', diagnostic: '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup' }, 'unknown_user hard'],
  ['exchange DBEB 5.4.1', { status: '5.4.1', diagnostic: '550 5.4.1 Recipient address rejected: Access denied. AS(201806281)' }, 'unknown_user hard'],
  ['unknown domain', { status: '5.1.2', diagnostic: 'Host or domain name not found. Name service error for name=nowhere.example type=A: Host not found' }, 'unknown_domain hard'],
  ['no mx 5.4.4', { status: '5.4.4' }, 'unknown_domain hard'],
  ['gmail disabled', { diagnostic: '550-5.2.1 The email account that you tried to reach is disabled.' }, 'mailbox_disabled hard'],
  ['moved', { replyCode: 550, diagnostic: '550 5.1.6 Recipient has moved; new address unknown' }, 'mailbox_disabled hard'],
  ['does not accept mail', { diagnostic: '550 5.1.1 This mailbox does not accept mail' }, 'mailbox_disabled hard'],
  // Sender side, even with 5xx and even with 5.1.1.
  ['gmail unsolicited', { status: '5.7.1', diagnostic: '550-5.7.1 [192.0.2.1] Our system has detected that this message is likely unsolicited mail.' }, 'spam_blocked sender'],
  ['gmail dmarc', { status: '5.7.26', diagnostic: '550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM.' }, 'auth_failed sender'],
  ['outlook spamhaus', { status: '5.7.1', diagnostic: '550 5.7.1 Service unavailable, Client host [192.0.2.1] blocked using Spamhaus.' }, 'reputation_blocked sender'],
  ['5.1.1 but blocked', { status: '5.1.1', diagnostic: '550 5.1.1 Message rejected: sender blocked' }, 'spam_blocked sender'],
  ['5.0.0 listed', { status: '5.0.0', diagnostic: '554 5.0.0 Your IP is listed at bl.example.org' }, 'reputation_blocked sender'],
  ['policy 5.7.1', { status: '5.7.1', diagnostic: '554 5.7.1 Message rejected due to local policy' }, 'policy sender'],
  ['rate', { status: '4.7.0', diagnostic: '421 4.7.0 Rate limit exceeded, try again later' }, 'rate_limited sender'],
  ['size', { status: '5.3.4', diagnostic: '552 5.3.4 Message size exceeds fixed limit' }, 'message_too_big sender'],
  ['spf', { diagnostic: '550 5.7.23 SPF validation failed' }, 'auth_failed sender'],
  ['helo rejected', { diagnostic: '504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname' }, 'policy sender'],
  // Soft.
  ['over quota 5.2.2', { status: '5.2.2', diagnostic: '552-5.2.2 The email account that you tried to reach is over quota.' }, 'mailbox_full soft'],
  ['mailbox full 4.2.2', { status: '4.2.2' }, 'mailbox_full soft'],
  ['expired 4.4.7', { status: '4.4.7' }, 'expired soft'],
  ['delivery time expired', { diagnostic: 'Delivery time expired' }, 'expired soft'],
  ['retry timeout exceeded', { diagnostic: 'retry timeout exceeded' }, 'expired soft'],
  ['4xx unknown user is not final', { status: '4.1.1', diagnostic: '450 4.1.1 <bob@example.com>: Recipient address rejected: unverified address' }, 'unknown_user soft'],
  ['greylisted', { diagnostic: '451 4.7.1 Greylisted, please try again in 300 seconds' }, 'temporary soft'],
  ['nothing known', {}, 'unknown soft'],
  ['5.0.0 no text', { status: '5.0.0' }, 'unknown soft'],
];

describe('classifyBounce', () => {
  it.each(table)('%s', (_name, input, expected) => {
    const v = classifyBounce(input);
    expect(`${v.reason} ${v.severity}`).toBe(expected);
    expect(v.suppress).toBe(v.severity === 'hard');
  });

  it('stays linear on long adversarial text', () => {
    const started = performance.now();
    for (const s of ['a'.repeat(200_000), 'mailbox '.repeat(50_000), `${'x '.repeat(100_000)}@`, 'user a a a a a a a a '.repeat(20_000)]) classifyBounce({ diagnostic: s });
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
