import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent } from '../events/registry.js';
import { defaultDailyLimit } from '../limits.js';
import { decideAccount, foldAccount, type AccountCommand } from './account.js';

const ctx = { eventId: 'evt_1', now: '2026-11-28T10:00:00.000Z' };
const id = 'acc_01J00000000000000000000000';
const secretId = 'sec_01J00000000000000000000000';
const settings = { dailyLimit: defaultDailyLimit('gmail', { workspaceTrial: true }), batchSize: 50, sendDelayMs: 0, postalAddress: '1 Street', fromName: null };

describe('a Gmail account', () => {
  const register: AccountCommand = { type: 'RegisterAccount', accountId: id, name: 'g', fromAddress: 'a@example.com', gmail: { user: 'a@example.com', secretId, workspaceTrial: true }, settings, actor: 'admin' };

  it('given nothing, when registered with a key id, then AccountRegistered names the provider, the user and the secret id only', () => {
    const [event] = decideAccount(register, null, ctx);
    expect(event).toMatchObject({ type: 'AccountRegistered', data: { provider: 'gmail', gmail: { user: 'a@example.com', secretId, workspaceTrial: true } } });
    expect(foldAccount([event!])).toMatchObject({ provider: 'gmail', gmail: { user: 'a@example.com', secretId }, settings: { dailyLimit: 500 } });
    expect(decodeEvent(encodeEvent(event!))).toEqual(event);
  });

  it('an SMTP registration stored before Gmail accounts existed still decodes and folds', () => {
    const stored = {
      id: 'evt_old',
      type: 'AccountRegistered',
      version: 1,
      occurredAt: '2026-01-01T00:00:00.000Z',
      accountId: id,
      data: { name: 'old', provider: 'smtp', fromAddress: 'a@example.com', smtp: { host: 'h.example.com', port: 587, tls: 'starttls', user: 'u', secretId }, settings, actor: 'admin' },
    };
    const event = decodeEvent(JSON.stringify(stored));
    expect(event.type === 'AccountRegistered' ? foldAccount([event]) : null).toMatchObject({ provider: 'smtp', smtp: { host: 'h.example.com' } });
  });

  it('refuses a registration that mixes the providers', () => {
    const mixed = {
      id: 'evt_x',
      type: 'AccountRegistered',
      version: 1,
      occurredAt: '2026-01-01T00:00:00.000Z',
      accountId: id,
      data: { name: 'x', provider: 'gmail', fromAddress: 'a@example.com', smtp: { host: 'h.example.com', port: 587, tls: 'starttls', user: 'u', secretId }, settings, actor: 'admin' },
    };
    expect(() => decodeEvent(JSON.stringify(mixed))).toThrow();
  });
});
