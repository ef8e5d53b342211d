import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LeadTokens } from './lead-tokens.js';

const keys = [{ id: 'k1', key: randomBytes(32) }];
const payload = { messageId: 'msg_01J0000000000000000000000A', accountId: 'acc_01J0000000000000000000000A', offerId: 'off_01J0000000000000000000000A', recipientHash: 'a'.repeat(64), expiresAt: 2_000 };

describe('lead tokens', () => {
  it('open to what was issued until they expire', () => {
    const tokens = LeadTokens.fromMasterKeys(keys, 'k1');
    const token = tokens.issue(payload);
    expect(token).toMatch(/^[A-Za-z0-9_.-]+$/);
    expect(token).not.toContain('msg_');
    expect(tokens.open(token, 1_999)).toEqual({ ok: true, payload });
    expect(tokens.open(token, 2_000)).toEqual({ ok: false, code: 'token_expired' });
  });

  it('refuse tampering and other keys', () => {
    const token = LeadTokens.fromMasterKeys(keys, 'k1').issue(payload);
    const other = LeadTokens.fromMasterKeys([{ id: 'k1', key: randomBytes(32) }], 'k1');
    expect(other.open(token, 1).ok).toBe(false);
    const flipped = token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.at(-1)!;
    expect(LeadTokens.fromMasterKeys(keys, 'k1').open(flipped, 1).ok).toBe(false);
    expect(LeadTokens.fromMasterKeys(keys, 'k1').open('garbage', 1).ok).toBe(false);
  });
});
