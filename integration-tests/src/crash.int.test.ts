import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '@postbus/testing';
import { expectSettledWithoutDuplicates, registerAccount, requestMessages, startWorld, type World } from './fixtures.js';

describe('kill -9 of the sender mid-run', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ users: ['erin', 'frank'], sinkDelayMs: 15 });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  it('reaches one outcome per message (or uncertain) and the SMTP server sees no message twice', async () => {
    await registerAccount(w, 'erin', 10_000);
    await registerAccount(w, 'frank', 10_000);
    await requestMessages(w, 400, 'k');
    await w.sink.waitFor((t) => t.length >= 60, 60_000);
    await w.platform.services.get('sender')!.kill9();
    const atKill = w.sink.transactions.length;
    await sleep(500);
    await w.platform.startService('sender');
    const states = await expectSettledWithoutDuplicates(w, 400);
    // At most one message per account was between "sending" and its outcome at the kill.
    expect(states.uncertain ?? 0).toBeLessThanOrEqual(2);
    expect((states.sent ?? 0) + (states.uncertain ?? 0)).toBe(400);
    expect(atKill).toBeLessThan(400);
  }, 180_000);
});
