import { sql, type Queryable } from '@databases/pg';

/** How far a Gmail account's mailbox was read (migration 0006). */
export interface GmailMailboxCursor {
  readonly accountId: string;
  /** Gmail's history id (decimal string); null until the first full listing is done. */
  readonly historyId: string | null;
  readonly lastSyncedAt: Date | null;
  readonly lastPolledAt: Date | null;
  readonly lastError: string | null;
}

const cursorOf = (r: Record<string, any>): GmailMailboxCursor => ({
  accountId: r.account_id,
  historyId: r.history_id === null ? null : String(r.history_id),
  lastSyncedAt: r.last_synced_at,
  lastPolledAt: r.last_polled_at,
  lastError: r.last_error,
});

export async function getGmailCursor(db: Queryable, accountId: string): Promise<GmailMailboxCursor | null> {
  const [row] = await db.query(sql`SELECT * FROM gmail_mailbox_cursors WHERE account_id = ${accountId}`);
  return row ? cursorOf(row) : null;
}

export async function listGmailCursors(db: Queryable): Promise<GmailMailboxCursor[]> {
  return (await db.query(sql`SELECT * FROM gmail_mailbox_cursors ORDER BY account_id`)).map(cursorOf);
}

/**
 * Moves the cursor forward to `historyId` (never back: a history id only grows), in the
 * transaction that recorded what was read up to it. `synced`: a full listing ended here.
 */
export async function saveGmailCursor(db: Queryable, accountId: string, historyId: string, opts: { synced?: boolean } = {}): Promise<void> {
  const synced = opts.synced ?? false;
  await db.query(sql`
    INSERT INTO gmail_mailbox_cursors (account_id, history_id, last_synced_at)
    VALUES (${accountId}, ${historyId}::numeric, CASE WHEN ${synced} THEN now() END)
    ON CONFLICT (account_id) DO UPDATE SET
      history_id = GREATEST(gmail_mailbox_cursors.history_id, EXCLUDED.history_id),
      last_synced_at = COALESCE(EXCLUDED.last_synced_at, gmail_mailbox_cursors.last_synced_at)`);
}

export async function markGmailPolled(db: Queryable, accountId: string, error: string | null): Promise<void> {
  await db.query(sql`
    INSERT INTO gmail_mailbox_cursors (account_id, last_polled_at, last_error) VALUES (${accountId}, now(), ${error})
    ON CONFLICT (account_id) DO UPDATE SET last_polled_at = now(), last_error = EXCLUDED.last_error`);
}

/** Records that a Gmail message was processed; false when it already was (then nothing else is done). */
export async function recordGmailReport(
  db: Queryable,
  r: { accountId: string; gmailMessageId: string; kind: string; recipients: number; matched: number; note?: string },
): Promise<boolean> {
  const rows = await db.query(sql`
    INSERT INTO gmail_reports (account_id, gmail_message_id, kind, recipients, matched, note)
    VALUES (${r.accountId}, ${r.gmailMessageId}, ${r.kind}, ${r.recipients}, ${r.matched}, ${r.note ?? null})
    ON CONFLICT DO NOTHING RETURNING gmail_message_id`);
  return rows.length === 1;
}

/** Of these Gmail message ids, the ones already processed for the account (a resync skips them before fetching). */
export async function processedGmailMessages(db: Queryable, accountId: string, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.query(sql`
    SELECT gmail_message_id FROM gmail_reports WHERE account_id = ${accountId} AND gmail_message_id = ANY(${[...ids]}::text[])`);
  return new Set(rows.map((r) => r.gmail_message_id as string));
}
