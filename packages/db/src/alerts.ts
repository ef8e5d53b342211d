import { sql, type Queryable } from '@databases/pg';
import { newId } from '@postbus/contracts';

export interface AlertInput {
  /** Same key within the window: one alert, its occurrences counted. */
  readonly key: string;
  readonly kind: string;
  readonly severity: 'info' | 'warning' | 'critical';
  readonly accountId?: string;
  readonly summary: string;
  readonly details?: Record<string, string | number | boolean | null>;
  readonly now: Date;
  readonly windowMs: number;
}

export interface AlertRow {
  readonly id: string;
  readonly key: string;
  readonly kind: string;
  readonly severity: 'info' | 'warning' | 'critical';
  readonly accountId: string | null;
  readonly summary: string;
  readonly details: Record<string, string | number | boolean | null>;
  readonly firstAt: Date;
  readonly lastAt: Date;
  readonly occurrences: number;
  readonly notifiedAt: Date | null;
}

function toAlert(r: Record<string, any>): AlertRow {
  return {
    id: r.id,
    key: r.dedupe_key,
    kind: r.kind,
    severity: r.severity,
    accountId: r.account_id,
    summary: r.summary,
    details: r.details,
    firstAt: r.first_at,
    lastAt: r.last_at,
    occurrences: r.occurrences,
    notifiedAt: r.notified_at,
  };
}

/**
 * Records an alert, deduplicated: an alert with the same key seen within the window is the
 * same alert (its count and last time move); otherwise a new one, which `created` reports so
 * that only new alerts page a person.
 */
export async function raiseAlert(db: Queryable, a: AlertInput): Promise<{ alert: AlertRow; created: boolean }> {
  const [same] = await db.query(sql`
    UPDATE alerts SET occurrences = occurrences + 1, last_at = greatest(last_at, ${a.now})
    WHERE id = (SELECT id FROM alerts WHERE dedupe_key = ${a.key} AND last_at > ${a.now}::timestamptz - ${a.windowMs} * interval '1 millisecond'
                ORDER BY last_at DESC LIMIT 1)
    RETURNING *`);
  if (same) return { alert: toAlert(same), created: false };
  const [row] = await db.query(sql`
    INSERT INTO alerts (id, dedupe_key, kind, severity, account_id, summary, details, first_at, last_at)
    VALUES (${newId('alr', a.now.getTime())}, ${a.key}, ${a.kind}, ${a.severity}, ${a.accountId ?? null}, ${a.summary.slice(0, 1000)},
            ${JSON.stringify(a.details ?? {})}::jsonb, ${a.now}, ${a.now})
    ON CONFLICT (dedupe_key, first_at) DO UPDATE SET occurrences = alerts.occurrences + 1
    RETURNING *, (xmax = 0) AS inserted`);
  return { alert: toAlert(row), created: Boolean(row?.inserted) };
}

export async function unnotifiedAlerts(db: Queryable, limit = 100): Promise<AlertRow[]> {
  return (await db.query(sql`SELECT * FROM alerts WHERE notified_at IS NULL ORDER BY first_at LIMIT ${limit}`)).map(toAlert);
}

export async function markAlertNotified(db: Queryable, id: string, at: Date | null, error?: string): Promise<void> {
  await db.query(sql`UPDATE alerts SET notified_at = ${at}, notify_error = ${error?.slice(0, 500) ?? null} WHERE id = ${id}`);
}

/** Newest first by when each alert was first raised (ids are time-ordered); `before` is the cursor: the last id of the previous page. */
export async function listAlerts(db: Queryable, opts: { limit: number; before?: string; accountId?: string }): Promise<AlertRow[]> {
  const rows = await db.query(sql`
    SELECT * FROM alerts
    WHERE (${opts.accountId ?? null}::text IS NULL OR account_id = ${opts.accountId ?? null})
      AND (${opts.before ?? null}::text IS NULL OR id < ${opts.before ?? null})
    ORDER BY id DESC LIMIT ${opts.limit}`);
  return rows.map(toAlert);
}
