import { describe, expect, it, vi } from 'vitest';
import type { JsMsg } from '@postbus/bus';
import { emailsSentEventId, type EmailSent, type EmailsSent } from '@postbus/contracts';
import { SentBatch } from './sent-batch.js';

const ACCOUNT = 'acc_01J0000000000000000000000A';
const sent = (i: number): EmailSent => {
  const messageId = `msg_01J${String(i).padStart(23, '0')}`;
  return {
    id: `${messageId}.1.1.sent`,
    type: 'EmailSent',
    version: 1,
    occurredAt: `2030-04-05T06:07:${String(10 + i).padStart(2, '0')}.000Z`,
    accountId: ACCOUNT,
    messageId,
    data: { assignment: 1, attempt: 1, startedAt: '2030-04-05T06:07:00.000Z', headerMessageId: `<${messageId}@example.org>`, replyCode: 250 },
  };
};
const msg = (i: number) => ({ seq: i }) as unknown as JsMsg;

describe('SentBatch', () => {
  it('given sends up to the most per event, then they go at once as one EmailsSent of theirs, in order, with the ids they have as EmailSent', async () => {
    const published: Array<{ batch: EmailsSent; msgs: readonly JsMsg[] }> = [];
    const b = new SentBatch(ACCOUNT, { maxSends: 3, lingerMs: 60_000, publish: async (batch, msgs) => void published.push({ batch, msgs }) });
    const done = [1, 2, 3].map((i) => b.add(sent(i), [msg(i)]));
    await Promise.all(done);
    expect(published).toHaveLength(1);
    const { batch, msgs } = published[0]!;
    expect(batch.accountId).toBe(ACCOUNT);
    expect(batch.data.sent.map((s) => s.id)).toEqual([1, 2, 3].map((i) => sent(i).id));
    expect(batch.id).toBe(emailsSentEventId(batch.data.sent.map((s) => s.id)));
    expect(batch.occurredAt).toBe(sent(3).occurredAt);
    expect(msgs.map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('given fewer sends, then they wait for the linger (or a flush) and no longer', async () => {
    vi.useFakeTimers();
    try {
      const publish = vi.fn(async () => undefined);
      const b = new SentBatch(ACCOUNT, { maxSends: 100, lingerMs: 20, publish });
      const first = b.add(sent(1), [msg(1)]);
      void b.add(sent(2), [msg(2)]);
      await vi.advanceTimersByTimeAsync(19);
      expect(publish).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(1);
      expect(publish).toHaveBeenCalledTimes(1);
      await first;
      const third = b.add(sent(3), [msg(3)]);
      b.flush(); // a stopping worker does not wait
      await third;
      expect(publish).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('given a publish that fails, then every send of that batch is refused (their work items stay unacknowledged)', async () => {
    const b = new SentBatch(ACCOUNT, { maxSends: 2, lingerMs: 60_000, publish: async () => Promise.reject(new Error('log_unavailable')) });
    const results = await Promise.allSettled([b.add(sent(1), [msg(1)]), b.add(sent(2), [msg(2)])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
