import { describe, expect, it } from 'vitest';
import { PostbusError } from '../errors.js';
import type { AccountEvent } from '../events/account.js';
import { decideAccount, foldAccount, type AccountCommand } from './account.js';

const ctx = { eventId: 'evt_1', now: '2026-11-28T10:00:00.000Z' };
const id = 'acc_01J00000000000000000000000';
const smtp = { host: 'smtp.example.com', port: 587, tls: 'starttls' as const, user: 'u', secretId: 'sec_01J00000000000000000000000' };
const settings = { dailyLimit: 500, batchSize: 50, sendDelayMs: 0, postalAddress: '1 Street', fromName: null };
const register: AccountCommand = { type: 'RegisterAccount', accountId: id, name: 'one', fromAddress: 'a@example.com', smtp, settings, actor: 'admin' };

/** Given these events, when this command, then these events — or this error. */
function given(events: AccountEvent[]) {
  return {
    when: (command: AccountCommand) => ({
      then: (expected: Partial<AccountEvent>[]) => expect(decideAccount(command, foldAccount(events), ctx)).toMatchObject(expected),
      thenThrows: (code: string) => {
        try {
          decideAccount(command, foldAccount(events), ctx);
          throw new Error('no error');
        } catch (err) {
          expect(err).toBeInstanceOf(PostbusError);
          expect((err as PostbusError).code).toBe(code);
        }
      },
    }),
  };
}

describe('the account aggregate', () => {
  const registered = decideAccount(register, null, ctx);

  it('registers a new account', () => given([]).when(register).then([{ type: 'AccountRegistered', accountId: id }]));
  it('refuses to register one twice', () => given(registered).when(register).thenThrows('account_exists'));
  it('records only the settings that change', () =>
    given(registered)
      .when({ type: 'ChangeAccountSettings', accountId: id, changes: { dailyLimit: 500, sendDelayMs: 1000 }, actor: 'ops' })
      .then([{ type: 'AccountSettingsChanged', data: { changes: { sendDelayMs: 1000 }, actor: 'ops' } }]));
  it('records nothing when nothing changes', () =>
    given(registered).when({ type: 'ChangeAccountSettings', accountId: id, changes: { dailyLimit: 500 }, actor: 'ops' }).then([]));
  it('refuses settings for an unknown account', () =>
    given([]).when({ type: 'ChangeAccountSettings', accountId: id, changes: { dailyLimit: 1 }, actor: 'ops' }).thenThrows('account_not_found'));
  it('folds settings into the state', () => {
    const changed = decideAccount({ type: 'ChangeAccountSettings', accountId: id, changes: { dailyLimit: 10 }, actor: 'ops' }, foldAccount(registered), ctx);
    expect(foldAccount([...registered, ...changed])?.settings).toEqual({ ...settings, dailyLimit: 10 });
  });
});
