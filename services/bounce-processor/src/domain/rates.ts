import type { AccountRates } from '@postbus/db';

/** DESIGN.md "Rates": per account over the last 24 h, once at least `minSample` messages were sent. */
export interface RateThresholds {
  readonly minSample: number;
  /** Hard bounces / sent above this pause the account. */
  readonly hardBouncePause: number;
  /** Complaints / sent above this raise an alert … */
  readonly complaintAlert: number;
  /** … and above this pause the account. */
  readonly complaintPause: number;
  /** Rejections for policy, spam, reputation, authentication / sent above this raise an alert. */
  readonly policyAlert: number;
}

export const DEFAULT_THRESHOLDS: RateThresholds = { minSample: 100, hardBouncePause: 0.05, complaintAlert: 0.001, complaintPause: 0.003, policyAlert: 0.05 };

/** A rate over its threshold, as the fault the orchestrator decides on (faults.ts). */
export interface RateFault {
  readonly accountId: string;
  readonly reason: 'hard_bounce_rate' | 'complaint_rate' | 'complaint_rate_warning' | 'policy_rejection_rate';
  readonly detail: string;
}

const pct = (x: number) => `${(x * 100).toFixed(2)} %`;

/** The faults one account's last 24 h call for (none below the minimum sample: a handful of sends says little). */
export function rateFaults(r: AccountRates, t: RateThresholds = DEFAULT_THRESHOLDS): RateFault[] {
  if (r.sent < t.minSample) return [];
  const out: RateFault[] = [];
  const hard = r.hard / r.sent;
  const complaints = r.complaints / r.sent;
  const policy = r.sender / r.sent;
  const of = (n: number, what: string, rate: number, limit: number) => `${n} ${what} of ${r.sent} sent in 24 h (${pct(rate)}, threshold ${pct(limit)})`;
  if (hard > t.hardBouncePause) out.push({ accountId: r.accountId, reason: 'hard_bounce_rate', detail: of(r.hard, 'hard bounces', hard, t.hardBouncePause) });
  if (complaints > t.complaintPause) out.push({ accountId: r.accountId, reason: 'complaint_rate', detail: of(r.complaints, 'complaints', complaints, t.complaintPause) });
  else if (complaints > t.complaintAlert) out.push({ accountId: r.accountId, reason: 'complaint_rate_warning', detail: of(r.complaints, 'complaints', complaints, t.complaintAlert) });
  if (policy > t.policyAlert) out.push({ accountId: r.accountId, reason: 'policy_rejection_rate', detail: of(r.sender, 'policy rejections', policy, t.policyAlert) });
  return out;
}
