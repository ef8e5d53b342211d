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

  describe('lifecycle', () => {
    const pause = (status: 'paused' | 'paused_limit_reached' | 'paused_provider_limit' | 'paused_bounce_rate', actor = 'system', until?: string): AccountCommand => ({
      type: 'PauseAccount',
      accountId: id,
      status,
      reason: status,
      actor,
      ...(until ? { until } : {}),
    });
    const after = (...cmds: AccountCommand[]) =>
      cmds.reduce<AccountEvent[]>((evs, c) => [...evs, ...decideAccount(c, foldAccount(evs), ctx)], [...registered]);

    it('pauses an active account with reason and actor', () =>
      given(registered).when(pause('paused_limit_reached')).then([{ type: 'AccountPaused', data: { status: 'paused_limit_reached', actor: 'system' } }]));
    it('a person may pause over an automatic pause', () =>
      given(after(pause('paused_limit_reached'))).when(pause('paused', 'ops')).then([{ type: 'AccountPaused', data: { status: 'paused' } }]));
    it('an automatic pause never replaces a stronger state', () => {
      given(after(pause('paused', 'ops'))).when(pause('paused_limit_reached')).then([]);
      given(after({ type: 'SuspendAccount', accountId: id, reason: 'credentials_rejected', actor: 'system' })).when(pause('paused_bounce_rate')).then([]);
    });
    it('extends a provider pause only to a later time', () => {
      const first = after(pause('paused_provider_limit', 'system', '2026-11-29T00:00:00.000Z'));
      given(first).when(pause('paused_provider_limit', 'system', '2026-11-28T12:00:00.000Z')).then([]);
      given(first).when(pause('paused_provider_limit', 'system', '2026-11-29T06:00:00.000Z')).then([{ type: 'AccountPaused', data: { until: '2026-11-29T06:00:00.000Z' } }]);
    });
    it('an automatic resume ends only the states it names', () => {
      const auto: AccountCommand = { type: 'ResumeAccount', accountId: id, reason: 'room_available', actor: 'system', onlyFrom: ['paused_limit_reached'] };
      given(after(pause('paused_limit_reached'))).when(auto).then([{ type: 'AccountResumed', data: { from: 'paused_limit_reached' } }]);
      given(after(pause('paused_limit_reached'), pause('paused', 'ops'))).when(auto).then([]);
    });
    it('only a person resumes a suspended account; resuming an active one records nothing', () => {
      const suspended = after({ type: 'SuspendAccount', accountId: id, reason: 'credentials_rejected', detail: '535 5.7.8', actor: 'system' });
      expect(foldAccount(suspended)).toMatchObject({ status: 'suspended', statusReason: 'credentials_rejected: 535 5.7.8' });
      given(suspended).when({ type: 'ResumeAccount', accountId: id, reason: 'checked', actor: 'ops' }).then([{ type: 'AccountResumed', data: { from: 'suspended', actor: 'ops' } }]);
      given(registered).when({ type: 'ResumeAccount', accountId: id, reason: 'x', actor: 'ops' }).then([]);
    });
    it('suspends once', () =>
      given(after({ type: 'SuspendAccount', accountId: id, reason: 'unknown', actor: 'system' }))
        .when({ type: 'SuspendAccount', accountId: id, reason: 'unknown', actor: 'system' })
        .then([]));
  });
});
