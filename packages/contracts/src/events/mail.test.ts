import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { checker } from '../schema.js';
import {
  EmailSent,
  MAIL_BATCH_SUBJECT_TOKEN,
  MAIL_SUBJECT_TOKEN,
  MAX_QUEUED_PER_EVENT,
  MAX_SENT_PER_EVENT,
  emailsQueued,
  emailsSentEventId,
  queuedOf,
  sentOf,
  type EmailQueued,
  type EmailsSent,
  type RecordedSend,
} from './mail.js';
import { decodeEvent, encodeEvent } from './registry.js';

const ACCOUNT = 'acc_01J0000000000000000000000A';
const send = (i: number): RecordedSend => {
  const messageId = `msg_01J${String(i).padStart(23, '0')}`;
  return {
    id: `${messageId}.1.1.sent`,
    messageId,
    occurredAt: '2030-04-05T06:07:08.901Z',
    assignment: 1,
    attempt: 1,
    startedAt: '2030-04-05T06:07:08.512Z',
    headerMessageId: `<${messageId}@sender.example.org>`,
    replyCode: 250,
    enhancedCode: '2.0.0',
    response: `250 2.0.0 Ok: queued as ${'A'.repeat(12)}`,
  };
};
const batch = (sent: RecordedSend[]): EmailsSent => ({
  id: emailsSentEventId(sent.map((s) => s.id)),
  type: 'EmailsSent',
  version: 1,
  occurredAt: '2030-04-05T06:07:09.000Z',
  accountId: ACCOUNT,
  data: { sent },
});

describe('EmailsSent', () => {
  it('round-trips; its largest batch stays far under the stream’s 1 MB message limit', () => {
    const largest = batch(Array.from({ length: MAX_SENT_PER_EVENT }, (_, i) => ({ ...send(i), providerMessageId: 'p'.repeat(200), response: 'r'.repeat(1000) })));
    const bytes = encodeEvent(largest);
    expect(bytes.byteLength).toBeLessThan(1024 * 1024);
    expect(decodeEvent(bytes)).toEqual(largest);
  });

  it('refuses an empty batch, one over the cap, and a send with a field EmailSent does not have', () => {
    expect(() => encodeEvent(batch([]))).toThrow(ValidationError);
    expect(() => encodeEvent(batch(Array.from({ length: MAX_SENT_PER_EVENT + 1 }, (_, i) => send(i))))).toThrow(ValidationError);
    expect(() => encodeEvent(batch([{ ...send(1), recipient: 'someone@example.org' } as RecordedSend]))).toThrow(ValidationError);
  });

  it('stands for the EmailSent events of its sends: their ids, times, data and the batch’s account', () => {
    const sends = [send(1), send(2)];
    const events = sentOf(batch(sends));
    const isEmailSent = checker(EmailSent);
    expect(events.every((e) => isEmailSent.Check(e))).toBe(true);
    expect(events.map((e) => [e.id, e.messageId, e.occurredAt, e.accountId])).toEqual(sends.map((s) => [s.id, s.messageId, s.occurredAt, ACCOUNT]));
    const { id: _id, messageId: _m, occurredAt: _o, ...data } = sends[0]!;
    expect(events[0]!.data).toEqual(data);
  });

  it('has an id derived from its sends and goes on the subject EmailSent goes on', () => {
    const ids = [send(1).id, send(2).id];
    expect(emailsSentEventId(ids)).toBe(emailsSentEventId([...ids]));
    expect(emailsSentEventId(ids)).not.toBe(emailsSentEventId([send(1).id]));
    expect(emailsSentEventId(ids)).toMatch(/^evt_[0-9A-Z]{26}$/);
    expect(MAIL_BATCH_SUBJECT_TOKEN.EmailsSent).toBe(MAIL_SUBJECT_TOKEN.EmailSent);
  });
});

describe('EmailsQueued', () => {
  const queued = (i: number): EmailQueued => {
    const messageId = `msg_01J${String(i).padStart(23, '0')}`;
    return {
      id: `${messageId}.1.1.queued`,
      type: 'EmailQueued',
      version: 1,
      occurredAt: '2030-04-05T06:07:08.901Z',
      accountId: ACCOUNT,
      messageId,
      data: { assignment: 1, attempt: 1, kind: 'bulk', to: `r${i}@example.org`, subject: 'Hello', requestedAt: '2030-04-05T06:07:08.000Z', leaderEpoch: 3 },
    };
  };

  it('round-trips the largest batch far under the stream’s 1 MB limit, and stands for the EmailQueued of each message', () => {
    const events = Array.from({ length: MAX_QUEUED_PER_EVENT }, (_, i) => ({ ...queued(i), data: { ...queued(i).data, subject: 's'.repeat(998), campaignId: 'c'.repeat(64) } }));
    const batch = emailsQueued(ACCOUNT, events);
    const bytes = encodeEvent(batch);
    expect(bytes.byteLength).toBeLessThan(1024 * 1024);
    expect(decodeEvent(bytes)).toEqual(batch);
    expect(queuedOf(batch)).toEqual(events);
    expect(batch.occurredAt).toBe(events.at(-1)!.occurredAt);
  });

  it('refuses an empty batch and one over the cap; its id follows its messages; it goes where EmailQueued goes', () => {
    const one = emailsQueued(ACCOUNT, [queued(1)]);
    expect(() => encodeEvent({ ...one, data: { queued: [] } })).toThrow(ValidationError);
    expect(() => encodeEvent(emailsQueued(ACCOUNT, Array.from({ length: MAX_QUEUED_PER_EVENT + 1 }, (_, i) => queued(i))))).toThrow(ValidationError);
    expect(emailsQueued(ACCOUNT, [queued(1), queued(2)]).id).toBe(emailsQueued(ACCOUNT, [queued(1), queued(2)]).id);
    expect(emailsQueued(ACCOUNT, [queued(1), queued(2)]).id).not.toBe(one.id);
    expect(MAIL_BATCH_SUBJECT_TOKEN.EmailsQueued).toBe(MAIL_SUBJECT_TOKEN.EmailQueued);
  });
});
