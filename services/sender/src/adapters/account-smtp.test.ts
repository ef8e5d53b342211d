import type { AccountState } from '@postbus/contracts';
import { verpAddress } from '@postbus/contracts';
import type { ClaimedMessage } from '@postbus/db';
import { describe, expect, it } from 'vitest';
import { MAX_DELAY_WITH_ENVELOPE_AHEAD_MS, nextEnvelope } from './account-smtp.js';

// Only what nextEnvelope reads of an account and a claimed message.
const account = (sendDelayMs: number, verp = false) => ({ id: 'acc_1', provider: 'smtp', fromAddress: 'news@sender.test', settings: { sendDelayMs, verp } }) as unknown as AccountState;
const claimed = (recipient: string) => ({ messageId: 'msg_1', recipient }) as unknown as ClaimedMessage;

describe('the next message’s envelope, pipelined ahead', () => {
  it('is the one composing the message gives, with VERP where the account uses it', () => {
    expect(nextEnvelope(account(0), claimed('ann@receiver.test'))).toEqual({ from: 'news@sender.test', to: ['ann@receiver.test'] });
    expect(nextEnvelope(account(0, true), claimed('ann@receiver.test'))).toEqual({ from: verpAddress('news@sender.test', 'msg_1'), to: ['ann@receiver.test'] });
  });

  it('is not sent ahead for an account that waits long between messages, or for an address that cannot be sent to', () => {
    expect(nextEnvelope(account(MAX_DELAY_WITH_ENVELOPE_AHEAD_MS), claimed('ann@receiver.test'))).toBeDefined();
    expect(nextEnvelope(account(MAX_DELAY_WITH_ENVELOPE_AHEAD_MS + 1), claimed('ann@receiver.test'))).toBeUndefined();
    expect(nextEnvelope(account(0), claimed('ann@receiver.test\r\nRCPT TO:<x@y.test>'))).toBeUndefined();
    expect(nextEnvelope(account(0), claimed('not an address'))).toBeUndefined();
  });
});
