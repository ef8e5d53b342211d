import { describe, expect, it } from 'vitest';
import { outcomeOfFailure, type FailureFacts } from './outcome.js';

const now = new Date('2026-11-28T10:00:00Z');
const base: FailureFacts = {
  messageId: 'msg_1',
  classification: { scope: 'message', retryable: true, reason: 'temporary', hard: false },
  delivered: 'no',
  sendFailures: 0,
  now,
  retryDelaysMs: [60_000, 300_000, 900_000],
  accountBackoffMs: 30_000,
};

describe('outcomeOfFailure', () => {
  it('given a temporary failure on the first attempt, then a retry in 60 s using up an attempt', () => {
    expect(outcomeOfFailure(base)).toMatchObject({ kind: 'retry', consumed: true, nextAttemptAt: new Date(now.getTime() + 60_000) });
  });

  it('given three attempts used, then a fourth failure fails the message', () => {
    expect(outcomeOfFailure({ ...base, sendFailures: 3 })).toMatchObject({ kind: 'failed', reason: 'retries_exhausted:temporary' });
  });

  it('given a permanent rejection, then failed at once with the reply', () => {
    const o = outcomeOfFailure({ ...base, classification: { scope: 'message', retryable: false, reason: 'unknown_user', hard: true }, replyCode: 550, reply: '550 5.1.1 no' });
    expect(o).toEqual({ kind: 'failed', messageId: 'msg_1', reason: 'unknown_user', replyCode: 550, reply: '550 5.1.1 no' });
  });

  it('given an account-scope failure, then a retry that uses no attempt', () => {
    const o = outcomeOfFailure({ ...base, sendFailures: 3, classification: { scope: 'account', retryable: false, reason: 'auth_failed', hard: false } });
    expect(o).toMatchObject({ kind: 'retry', consumed: false, nextAttemptAt: new Date(now.getTime() + 30_000) });
  });

  it('given a connection lost after the message began, then uncertain and never retried', () => {
    expect(outcomeOfFailure({ ...base, delivered: 'unknown' })).toMatchObject({ kind: 'uncertain' });
  });
});
