import { describe, expect, it } from 'vitest';
import { evolveQueueRow, foldQueueRows, type QueueEvent, type QueueRow } from './domain/queue-row.js';
import { sendLogOf } from './domain/send-log.js';
import { canonicalTime } from './domain/time.js';
import { ids, mail, requested } from './testing/events.js';

/** Given these events (folded in order), when this one, then this row. */
function given(...events: Array<ReturnType<typeof requested> | ReturnType<typeof mail.queued>>) {
  const start = events.reduce<QueueRow | null>((row, e) => evolveQueueRow(row, e as QueueEvent), null);
  return {
    when: (e: ReturnType<typeof requested> | ReturnType<typeof mail.queued>) => ({
      then: (expected: Partial<QueueRow>) => expect(evolveQueueRow(start, e as QueueEvent)).toMatchObject(expected),
    }),
  };
}

const m = ids.message();
const acc = ids.account();
const other = ids.account();
const r = { messageId: m, accountId: acc };
const t = (s: number) => new Date(Date.UTC(2025, 0, 1, 12, 0, s)).toISOString();
const at = (s: number) => canonicalTime(t(s));

describe('email_queue fold', () => {
  it('a request starts the row as requested', () => {
    given()
      .when(requested(m, t(0), { to: 'a@b.example', subject: 'Hi', campaignId: 'spring' }))
      .then({ status: 'requested', recipient: 'a@b.example', subject: 'Hi', campaignId: 'spring', kind: 'bulk', requestedAt: at(0), accountId: null, assignment: 0 });
  });

  it('a request that comes after MAIL fills its columns and leaves status and account alone', () => {
    given(mail.queued(r, t(1), { to: 'q@b.example', subject: 'from queue', requestedAt: t(0) }))
      .when(requested(m, t(0), { to: 'a@b.example', subject: 'Hi' }))
      .then({ status: 'queued', accountId: acc, assignment: 1, attempt: 1, recipient: 'a@b.example', subject: 'Hi', requestedAt: at(0), updatedAt: at(1) });
  });

  it('queued, then sent', () => {
    given(requested(m, t(0)), mail.queued(r, t(1)))
      .when(mail.sent(r, t(2)))
      .then({ status: 'sent', accountId: acc, queuedAt: at(1), sentAt: at(2), outcomeAt: at(2), replyCode: 250, lastReason: null, updatedAt: at(2) });
  });

  it('a failed attempt waits for its retry, and the retry is a new attempt', () => {
    given(requested(m, t(0)), mail.queued(r, t(1)), mail.sendFailed(r, t(2)))
      .when(mail.queued({ ...r, attempt: 2 }, t(62)))
      .then({ status: 'queued', attempt: 2, lastReason: 'greylisted', replyCode: 451, queuedAt: at(62), outcomeAt: null });
    given(requested(m, t(0)), mail.queued(r, t(1)))
      .when(mail.sendFailed(r, t(2)))
      .then({ status: 'retry_wait', attempt: 1, lastReason: 'greylisted', replyCode: 451 });
  });

  it('EmailSent after EmailUncertain wins: the server accepted it', () => {
    given(mail.queued(r, t(1)), mail.uncertain(r, t(2)))
      .when(mail.sent(r, t(3)))
      .then({ status: 'sent', sentAt: at(3), outcomeAt: at(3), lastReason: null });
  });

  it('EmailUncertain after EmailSent changes nothing but updated_at', () => {
    given(mail.queued(r, t(1)), mail.sent(r, t(2)))
      .when(mail.uncertain(r, t(3)))
      .then({ status: 'sent', outcomeAt: at(2), updatedAt: at(3) });
  });

  it('an event of an older attempt does not override a newer one', () => {
    given(mail.queued(r, t(1)), mail.sendFailed(r, t(2)), mail.queued({ ...r, attempt: 2 }, t(3)), mail.sent({ ...r, attempt: 2 }, t(4)))
      .when(mail.failed(r, t(5)))
      .then({ status: 'sent', attempt: 2, sentAt: at(4) });
    given(mail.queued(r, t(1)), mail.queued({ ...r, assignment: 2, accountId: other }, t(3)))
      .when(mail.sendFailed(r, t(4)))
      .then({ status: 'queued', assignment: 2, accountId: other });
  });

  it('an outcome without an assignment from the account the message was moved away from is stale', () => {
    given(mail.queued(r, t(1)), mail.queued({ messageId: m, accountId: other, assignment: 2 }, t(2)))
      .when(mail.uncertain(r, t(3)))
      .then({ status: 'queued', accountId: other, assignment: 2, outcomeAt: null });
  });

  it('a final state is not reverted by the same attempt', () => {
    given(mail.queued(r, t(1)), mail.failed(r, t(2)))
      .when(mail.queued(r, t(3)))
      .then({ status: 'failed', lastReason: 'mailbox_unavailable', outcomeAt: at(2) });
    given(mail.queued(r, t(1)), mail.sent(r, t(2)))
      .when(mail.expired(m, acc, t(3)))
      .then({ status: 'sent' });
  });

  it('waiting, then queued, or waiting, then expired', () => {
    given(requested(m, t(0)), mail.waiting(m, t(1)))
      .when(mail.queued(r, t(5)))
      .then({ status: 'queued', accountId: acc, assignment: 1, lastReason: 'no_account_room' });
    given(requested(m, t(0)), mail.waiting(m, t(1)))
      .when(mail.expired(m, undefined, t(9)))
      .then({ status: 'expired', accountId: null, outcomeAt: at(9), lastReason: 'expired' });
  });

  it('suppressed at claim is final', () => {
    given(mail.queued(r, t(1)))
      .when(mail.suppressed(r, t(2)))
      .then({ status: 'suppressed', outcomeAt: at(2), lastReason: 'suppressed' });
  });

  it('updated_at is the latest event time, whatever the arrival order', () => {
    given(mail.queued(r, t(5)))
      .when(requested(m, t(0)))
      .then({ updatedAt: at(5), requestedAt: at(0) });
  });
});

describe('interleaving REQUESTS and MAIL', () => {
  const messages = Array.from({ length: 6 }, () => ids.message());
  const requests = messages.map((id, i) => requested(id, t(i), { campaignId: i % 2 ? 'c1' : undefined }) as QueueEvent);
  const mails: QueueEvent[] = messages.flatMap((id, i) => {
    const x = { messageId: id, accountId: acc };
    const lifecycle = [
      [mail.queued(x, t(10 + i), { requestedAt: t(i), campaignId: 'from-mail' }), mail.sent(x, t(20 + i))],
      [mail.waiting(id, t(10 + i)), mail.expired(id, undefined, t(30 + i))],
      [mail.queued(x, t(10 + i)), mail.sendFailed(x, t(11 + i)), mail.queued({ ...x, attempt: 2 }, t(40)), mail.uncertain({ ...x, attempt: 2 }, t(41)), mail.sent({ ...x, attempt: 2 }, t(42))],
    ][i % 3]!;
    return lifecycle as QueueEvent[];
  });
  const sorted = (rows: Map<string, QueueRow>) => [...rows.values()].sort((a, b) => a.messageId.localeCompare(b.messageId));

  it('gives the same rows for every merge of the two streams', () => {
    const reference = sorted(foldQueueRows(new Map(), [...requests, ...mails]));
    expect(sorted(foldQueueRows(new Map(), [...mails, ...requests]))).toEqual(reference);
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let n = 0; n < 200; n++) {
      const merged: QueueEvent[] = [];
      let i = 0;
      let j = 0;
      while (i < requests.length || j < mails.length) {
        const takeRequest = j >= mails.length || (i < requests.length && random() < 0.5);
        merged.push(takeRequest ? requests[i++]! : mails[j++]!);
      }
      // also in batches: the rows of one batch are the starting rows of the next
      let rows = new Map<string, QueueRow>();
      for (let k = 0; k < merged.length; k += 4) rows = new Map([...rows, ...foldQueueRows(rows, merged.slice(k, k + 4))]);
      expect(sorted(rows)).toEqual(reference);
    }
    expect(reference.map((x) => x.status)).toEqual(expect.arrayContaining(['sent', 'expired']));
    expect(reference.find((x) => x.campaignId === 'from-mail')).toBeDefined();
  });
});

describe('send_logs rows and times', () => {
  it('a request keeps kind, campaign and subject, never the body', () => {
    const row = sendLogOf(requested(m, t(0), { subject: 'Hi', campaignId: 'c' }) as QueueEvent);
    expect(row).toEqual({ eventId: `${m}.requested`, messageId: m, accountId: null, type: 'EmailRequested', attempt: null, occurredAt: at(0), detail: { kind: 'bulk', subject: 'Hi', campaignId: 'c' } });
    expect(JSON.stringify(row)).not.toContain('body');
  });

  it('a MAIL event keeps its data and attempt', () => {
    expect(sendLogOf(mail.sendFailed(r, t(1)) as QueueEvent)).toMatchObject({ type: 'EmailSendFailed', attempt: 1, accountId: acc, detail: { reason: 'greylisted', replyCode: 451 } });
  });

  it('times are cut to microseconds, fixed width', () => {
    expect(canonicalTime('2025-01-01T00:00:00Z')).toBe('2025-01-01T00:00:00.000000Z');
    expect(canonicalTime('2025-01-01T00:00:00.5Z')).toBe('2025-01-01T00:00:00.500000Z');
    expect(canonicalTime('2025-01-01T00:00:00.123456789Z')).toBe('2025-01-01T00:00:00.123456Z');
    expect(() => canonicalTime('yesterday')).toThrow();
  });
});
