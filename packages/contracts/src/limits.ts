import type { SendingSettings } from './events/account.js';

const DAY_MS = 86_400_000;

/**
 * Provider-aware default daily limits. Google Workspace allows 2,000 messages a day per user
 * (500 on trial accounts); for an SMTP server we know nothing, so a conservative 500.
 */
export function defaultDailyLimit(provider: 'smtp' | 'gmail', opts: { workspaceTrial?: boolean } = {}): number {
  if (provider === 'gmail') return opts.workspaceTrial ? 500 : 2_000;
  return 500;
}

/**
 * The limit in force at `now`: the account's daily limit, or during warm-up a linear ramp
 * from `startLimit` on day 0 to `dailyLimit` on day `days` (never above `dailyLimit`).
 * Used by both the dispatcher's credit and the claim's room, so they always agree.
 */
export function effectiveDailyLimit(settings: Pick<SendingSettings, 'dailyLimit' | 'warmup'>, now: Date): number {
  const w = settings.warmup;
  if (!w) return settings.dailyLimit;
  const day = Math.floor((now.getTime() - Date.parse(w.startedAt)) / DAY_MS);
  if (day >= w.days) return settings.dailyLimit;
  const start = Math.min(w.startLimit, settings.dailyLimit);
  return Math.min(settings.dailyLimit, start + Math.floor(((settings.dailyLimit - start) * Math.max(0, day)) / w.days));
}
