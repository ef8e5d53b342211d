import type { AccountCommand, AccountState, FaultReported } from '@postbus/contracts';

const DAY_MS = 86_400_000;

export interface AlertSpec {
  readonly key: string;
  readonly kind: string;
  readonly severity: 'info' | 'warning' | 'critical';
  readonly summary: string;
  readonly accountId?: string;
  readonly details?: Record<string, string | number | boolean | null>;
}

export interface FaultDecision {
  readonly command?: AccountCommand;
  readonly alert?: AlertSpec;
}

/**
 * What a reported fault means (DESIGN.md, "errors have a scope"):
 * - credentials refused → suspended (only a person resumes it);
 * - the provider's rate or daily limit → `paused_provider_limit` until its Retry-After, or 24 h;
 * - our own limit reached → `paused_limit_reached` (resumes when room returns);
 * - a platform fault → an alert from the first one, and nothing suspended;
 * - an account that cannot be reached → an alert; the worker holds off and tries again.
 */
export function decideFault(fault: FaultReported, account: AccountState | undefined, now: Date): FaultDecision {
  const accountId = fault.accountId;
  const { reason, detail, scope } = fault.data;
  const details = { reason, nodeId: fault.data.nodeId, ...(detail ? { detail } : {}) };
  if (scope === 'platform') {
    return {
      alert: { key: `platform:${reason}`, kind: 'platform_failure', severity: 'critical', summary: `Platform failure: ${reason}${detail ? ` (${detail})` : ''}`, details, ...(accountId ? { accountId } : {}) },
    };
  }
  if (!accountId || !account) return {};
  const base = { accountId, actor: 'orchestrator' };
  switch (reason) {
    case 'auth_failed':
    case 'auth_required':
      return { command: { type: 'SuspendAccount', ...base, reason: 'credentials_rejected', ...(detail ? { detail } : {}) } };
    case 'account_disabled':
      return { command: { type: 'SuspendAccount', ...base, reason: 'disabled_by_provider', ...(detail ? { detail } : {}) } };
    case 'rate_limited':
    case 'provider_rate_limit':
    case 'provider_daily_limit': {
      const until = fault.data.retryAfter ?? new Date(now.getTime() + DAY_MS).toISOString();
      return { command: { type: 'PauseAccount', ...base, status: 'paused_provider_limit', reason: `provider limit: ${reason}`, until } };
    }
    // Measured by the bounce processor over the last 24 h (DESIGN.md: pause above 5 % hard
    // bounces, 0.3 % complaints); the leader, which owns the aggregate, applies them.
    case 'hard_bounce_rate':
      return { command: { type: 'PauseAccount', ...base, status: 'paused_bounce_rate', reason: detail ?? 'hard-bounce rate over the threshold' } };
    case 'complaint_rate':
      return { command: { type: 'PauseAccount', ...base, status: 'paused_complaint_rate', reason: detail ?? 'complaint rate over the threshold' } };
    // Worth a person's look, not yet a pause.
    case 'complaint_rate_warning':
    case 'policy_rejection_rate':
      return {
        alert: {
          key: `${reason}:${accountId}`,
          kind: 'account_reputation',
          severity: 'warning',
          summary: `Account ${account.name} (${accountId}): ${reason === 'complaint_rate_warning' ? 'complaint rate' : 'policy-rejection rate'} over the alert threshold${detail ? ` — ${detail}` : ''}`,
          accountId,
          details,
        },
      };
    case 'limit_reached':
      return { command: { type: 'PauseAccount', ...base, status: 'paused_limit_reached', reason: 'daily or rolling-24 h limit reached' } };
    default:
      return {
        alert: {
          key: `account_unreachable:${accountId}`,
          kind: 'account_failing',
          severity: 'warning',
          summary: `Account ${account.name} (${accountId}) is failing: ${reason}`,
          accountId,
          details,
        },
      };
  }
}

/** The alert a new account state raises (paused or suspended pages a person; a limit pause is routine). */
export function alertForStatus(account: AccountState): AlertSpec | undefined {
  if (account.status === 'active' || account.status === 'paused_limit_reached') return undefined;
  const suspended = account.status === 'suspended';
  return {
    key: `account_${account.status}:${account.id}:${account.statusSince}`,
    kind: suspended ? 'account_suspended' : 'account_paused',
    severity: suspended || account.status === 'paused_bounce_rate' || account.status === 'paused_complaint_rate' ? 'critical' : 'warning',
    summary: `Account ${account.name} (${account.id}) is ${account.status}: ${account.statusReason}`,
    accountId: account.id,
    details: { status: account.status, reason: account.statusReason, actor: account.statusActor, since: account.statusSince },
  };
}
