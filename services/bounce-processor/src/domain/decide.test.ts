import { describe, expect, it } from 'vitest';
import { addressHash } from '@postbus/contracts';
import { decideBounce, decideComplaint, decideMailedUnsubscribe, ourMessageId, scrubDiagnostic, suppressedEvent, type RecipientFinding } from './decide.js';
import { rateFaults } from './rates.js';

const where = { source: 'imap:mbx_1', reportKey: 'mbx_1:7:42', at: new Date('2026-06-01T10:00:00.000Z') };
const message = { messageId: 'msg_01J0000000000000000000000A', accountId: 'acc_01J0000000000000000000000A', campaignId: 'spring' };
const finding = (over: Partial<RecipientFinding>): RecipientFinding => ({ recipient: 'bob@example.com', reason: 'unknown_user', severity: 'hard', suppress: true, status: '5.1.1', replyCode: 550, ...over });

describe('decideBounce', () => {
  it('suppresses a dead address at once, and says so in the event (hash only, no address)', () => {
    const d = decideBounce(finding({ diagnostic: '550 5.1.1 <bob@example.com>: Recipient address rejected' }), message, where, 0);
    expect(d.suppress).toEqual({ reason: 'hard_bounce' });
    expect(d.record).toMatchObject({ kind: 'bounce', severity: 'hard', reason: 'unknown_user' });
    const [e] = d.events;
    expect(e).toMatchObject({ type: 'EmailBounced', accountId: message.accountId, messageId: message.messageId, data: { severity: 'hard', suppressed: true, status: '5.1.1', replyCode: 550, campaignId: 'spring' } });
    expect(e!.type === 'EmailBounced' && e!.data.addressHash).toBe(addressHash('bob@example.com').toString('hex'));
    expect(JSON.stringify(e)).not.toContain('bob@example.com');
  });

  it('never suppresses for a rejection that is the sender’s fault, whatever its code', () => {
    const d = decideBounce(finding({ severity: 'sender', suppress: false, reason: 'spam_blocked', status: '5.7.1' }), message, where, 0);
    expect(d.suppress).toBeUndefined();
    expect(d.record).toMatchObject({ severity: 'sender' });
  });

  it('suppresses soft bounces only once repeated up to the limit', () => {
    const soft = finding({ severity: 'soft', suppress: false, reason: 'mailbox_full', status: '4.2.2', replyCode: 452 });
    expect(decideBounce(soft, message, where, 2).suppress).toBeUndefined();
    expect(decideBounce(soft, message, where, 3).suppress).toEqual({ reason: 'soft_bounce_repeated' });
    expect(decideBounce(soft, message, where, 2, { limit: 2, windowMs: 1 }).suppress).toEqual({ reason: 'soft_bounce_repeated' });
  });

  it('drops fields an event may not carry rather than failing', () => {
    const [e] = decideBounce(finding({ status: '9.9', replyCode: 99 }), message, where, 0).events;
    expect(e!.type === 'EmailBounced' && e!.data.status).toBeUndefined();
    expect(e!.type === 'EmailBounced' && e!.data.replyCode).toBeUndefined();
  });

  it('gives the same event id for the same report read twice', () => {
    expect(decideBounce(finding({}), message, where, 0).events[0]!.id).toBe(decideBounce(finding({}), message, { ...where, at: new Date() }, 0).events[0]!.id);
    expect(decideBounce(finding({}), message, where, 0).events[0]!.id).not.toBe(decideBounce(finding({}), message, { ...where, reportKey: 'mbx_1:7:43' }, 0).events[0]!.id);
  });
});

describe('complaints and mailed unsubscribes', () => {
  it('a complaint suppresses and counts as a complaint', () => {
    const d = decideComplaint('bob@example.com', message, where, { feedbackType: 'abuse', userAgent: 'Yahoo!-Mail-Feedback/2.0' });
    expect(d.suppress).toEqual({ reason: 'complaint' });
    expect(d.record).toMatchObject({ kind: 'complaint', severity: 'complaint' });
    expect(d.events[0]).toMatchObject({ type: 'EmailComplained', data: { feedbackType: 'abuse', userAgent: 'Yahoo!-Mail-Feedback/2.0' } });
  });
  it('a mailed unsubscribe suppresses, and is an Unsubscribed event by mailto', () => {
    const d = decideMailedUnsubscribe('bob@example.com', message, where);
    expect(d.suppress).toEqual({ reason: 'unsubscribed' });
    expect(d.record).toBeUndefined();
    expect(d.events[0]).toMatchObject({ type: 'Unsubscribed', data: { method: 'mailto', campaignId: 'spring' } });
  });
  it('names the AddressSuppressed event by the row, as every writer of the list does', () => {
    const e = suppressedEvent({ hashHex: 'ab'.repeat(32), createdAtMicros: 1_780_000_000_123_456 }, 'hard_bounce', 'bounce-processor', null, message.messageId);
    expect(e.occurredAt).toBe(new Date(1_780_000_000_123).toISOString());
    expect(e.data).toEqual({ addressHash: 'ab'.repeat(32), reason: 'hard_bounce', source: 'bounce-processor' });
  });
});

describe('helpers', () => {
  it('blanks addresses in a diagnostic and caps it', () => {
    expect(scrubDiagnostic('550 5.1.1 <bob@example.com>... User unknown\r\n  (for "x.y@z.org")')).toBe('550 5.1.1 <<address>>... User unknown (for "<address>")');
    expect(scrubDiagnostic('x'.repeat(900))!.length).toBe(500);
    expect(scrubDiagnostic('   ')).toBeUndefined();
  });
  it('finds our message id in a Message-ID header', () => {
    expect(ourMessageId('<msg_01J0000000000000000000000A@sender.test>')).toBe('msg_01J0000000000000000000000A');
    expect(ourMessageId('<CAF=abc@mail.gmail.com>')).toBeUndefined();
    expect(ourMessageId(undefined)).toBeUndefined();
  });
});

describe('rateFaults', () => {
  const r = (sent: number, hard: number, complaints: number, sender: number) => ({ accountId: 'acc_1', sent, hard, complaints, sender });
  it('judges nothing below the minimum sample', () => expect(rateFaults(r(99, 50, 50, 50))).toEqual([]));
  it('pauses above 5 % hard bounces, not at 5 %', () => {
    expect(rateFaults(r(1000, 50, 0, 0))).toEqual([]);
    expect(rateFaults(r(1000, 51, 0, 0)).map((f) => f.reason)).toEqual(['hard_bounce_rate']);
  });
  it('alerts above 0.1 % complaints and pauses above 0.3 %', () => {
    expect(rateFaults(r(1000, 0, 1, 0))).toEqual([]);
    expect(rateFaults(r(1000, 0, 2, 0)).map((f) => f.reason)).toEqual(['complaint_rate_warning']);
    expect(rateFaults(r(1000, 0, 4, 0)).map((f) => f.reason)).toEqual(['complaint_rate']);
  });
  it('alerts on policy rejections and says the figures', () => {
    const [f] = rateFaults(r(200, 0, 0, 11));
    expect(f).toMatchObject({ reason: 'policy_rejection_rate' });
    expect(f!.detail).toBe('11 policy rejections of 200 sent in 24 h (5.50 %, threshold 5.00 %)');
  });
});
