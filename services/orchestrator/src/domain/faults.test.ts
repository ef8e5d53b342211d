import { describe, expect, it } from 'vitest';
import type { AccountState, FaultReported } from '@postbus/contracts';
import { alertForStatus, decideFault } from './faults.js';

const now = new Date('2026-06-01T10:00:00.000Z');
const account = { id: 'acc_1', name: 'one', status: 'active', statusReason: 'registered', statusActor: 'ops', statusSince: now.toISOString() } as AccountState;
const fault = (reason: string, extra: Partial<FaultReported['data']> = {}): FaultReported => ({
  id: 'evt_1',
  type: 'FaultReported',
  version: 1,
  occurredAt: now.toISOString(),
  accountId: 'acc_1',
  data: { scope: 'account', reason, nodeId: 'n', ...extra },
});

describe('decideFault', () => {
  it.each([
    ['auth_failed', { type: 'SuspendAccount', reason: 'credentials_rejected' }],
    ['account_disabled', { type: 'SuspendAccount', reason: 'disabled_by_provider' }],
    ['limit_reached', { type: 'PauseAccount', status: 'paused_limit_reached' }],
    ['provider_daily_limit', { type: 'PauseAccount', status: 'paused_provider_limit', until: '2026-06-02T10:00:00.000Z' }],
    ['hard_bounce_rate', { type: 'PauseAccount', status: 'paused_bounce_rate' }],
    ['complaint_rate', { type: 'PauseAccount', status: 'paused_complaint_rate' }],
  ])('%s → %o', (reason, command) => expect(decideFault(fault(reason), account, now)).toEqual({ command: expect.objectContaining({ ...command, accountId: 'acc_1', actor: 'orchestrator' }) }));
  it('honours the provider’s Retry-After', () =>
    expect(decideFault(fault('rate_limited', { retryAfter: '2026-06-01T10:15:00.000Z' }), account, now).command).toMatchObject({ until: '2026-06-01T10:15:00.000Z' }));
  it('alerts on a platform fault and decides nothing about the account', () => {
    const d = decideFault(fault('delegation_missing', { scope: 'platform' }), account, now);
    expect(d.command).toBeUndefined();
    expect(d.alert).toMatchObject({ kind: 'platform_failure', severity: 'critical', key: 'platform:delegation_missing' });
  });
  it.each(['complaint_rate_warning', 'policy_rejection_rate'])('%s: a reputation alert, no pause', (reason) => {
    const d = decideFault(fault(reason, { detail: '2 complaints of 1000 sent' }), account, now);
    expect(d.command).toBeUndefined();
    expect(d.alert).toMatchObject({ kind: 'account_reputation', severity: 'warning', key: `${reason}:acc_1`, accountId: 'acc_1' });
  });
  it('alerts, without pausing, on an account it cannot reach', () => expect(decideFault(fault('connection_failed'), account, now)).toEqual({ alert: expect.objectContaining({ kind: 'account_failing' }) }));
  it('pages for suspensions and non-routine pauses, not for a limit pause', () => {
    expect(alertForStatus({ ...account, status: 'paused_limit_reached' })).toBeUndefined();
    expect(alertForStatus({ ...account, status: 'suspended' })).toMatchObject({ kind: 'account_suspended', severity: 'critical' });
    expect(alertForStatus({ ...account, status: 'paused_bounce_rate' })).toMatchObject({ kind: 'account_paused', severity: 'critical' });
  });
});
