import { createHmac } from 'node:crypto';
import { publishEvent, type Bus } from '@postbus/bus';
import { markAlertNotified, raiseAlert, unnotifiedAlerts, type AlertRow, type Database } from '@postbus/db';
import { metrics, type Logger } from '@postbus/telemetry';
import type { AlertSpec } from './domain/faults.js';

/** Delivers an alert to a person. Throwing leaves it undelivered: it is tried again on the next pass. */
export interface Notifier {
  readonly name: string;
  notify(alert: AlertRow): Promise<void>;
}

/**
 * POSTs the alert as JSON, signed like Stripe's webhooks: `Postbus-Signature: t=<unix seconds>,
 * v1=<hex HMAC-SHA256 of "<t>.<body>">`, so the receiver can check origin and freshness.
 */
export class WebhookNotifier implements Notifier {
  readonly name = 'webhook';
  constructor(private readonly url: string, private readonly secret: string, private readonly timeoutMs = 5_000) {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('the alert webhook must be an http(s) URL');
    if (!secret) throw new Error('the alert webhook needs POSTBUS_ALERT_WEBHOOK_SECRET to sign its requests');
  }

  async notify(alert: AlertRow): Promise<void> {
    const body = JSON.stringify({
      id: alert.id,
      kind: alert.kind,
      severity: alert.severity,
      summary: alert.summary,
      accountId: alert.accountId,
      details: alert.details,
      firstAt: alert.firstAt.toISOString(),
      lastAt: alert.lastAt.toISOString(),
      occurrences: alert.occurrences,
    });
    const t = Math.floor(Date.now() / 1000);
    const signature = createHmac('sha256', this.secret).update(`${t}.${body}`).digest('hex');
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'postbus-signature': `t=${t},v1=${signature}`, 'user-agent': 'postbus-alerts' },
      body,
      signal: AbortSignal.timeout(this.timeoutMs),
      redirect: 'error',
    });
    if (!res.ok) throw new Error(`webhook answered ${res.status}`);
  }
}

export interface AlerterDeps {
  readonly bus: Bus;
  readonly db: Database;
  readonly log: Logger;
  readonly clock: () => Date;
  readonly notifiers: readonly Notifier[];
  /** The same key within this window is one alert. Default an hour. */
  readonly windowMs?: number;
}

/**
 * Raises alerts: recorded (deduplicated) in Postgres, logged, appended to OPS as
 * `AlertRaised`, then delivered by every notifier (none configured: the log is the delivery).
 * A failed delivery is retried on later passes until it succeeds.
 */
export class Alerter {
  constructor(private readonly deps: AlerterDeps) {}

  async raise(spec: AlertSpec): Promise<void> {
    const now = this.deps.clock();
    const { alert, created } = await raiseAlert(this.deps.db, { ...spec, now, windowMs: this.deps.windowMs ?? 3_600_000 });
    if (!created) return;
    // Always in the log too, for a log-based pager.
    this.deps.log.error({ alertId: alert.id, kind: alert.kind, severity: alert.severity, accountId: alert.accountId }, `ALERT: ${alert.summary}`);
    await publishEvent(this.deps.bus, this.deps.bus.subjects.ops('alert'), {
      id: alert.id,
      type: 'AlertRaised',
      version: 1,
      occurredAt: now.toISOString(),
      ...(alert.accountId ? { accountId: alert.accountId } : {}),
      data: { alertId: alert.id, key: alert.key.slice(0, 300), kind: alert.kind, severity: alert.severity, summary: alert.summary, details: alert.details },
    });
    metrics.alert(alert.kind, alert.severity).inc();
    await this.deliverPending();
  }

  /** Delivers what is undelivered (on each raise, and periodically for earlier failures). */
  async deliverPending(): Promise<void> {
    for (const alert of await unnotifiedAlerts(this.deps.db)) {
      const failures: string[] = [];
      for (const n of this.deps.notifiers) {
        try {
          await n.notify(alert);
        } catch (err) {
          failures.push(`${n.name}: ${(err as Error).message}`);
        }
      }
      if (failures.length === 0) await markAlertNotified(this.deps.db, alert.id, this.deps.clock());
      else {
        await markAlertNotified(this.deps.db, alert.id, null, failures.join('; '));
        this.deps.log.warn({ alertId: alert.id, failures }, 'alert not delivered; trying again');
      }
    }
  }
}
