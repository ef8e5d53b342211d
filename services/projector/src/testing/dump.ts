import { sql, type Database } from '@postbus/db';

/** Every row of each table as JSON text, in a stable order: two dumps compare with toEqual. */
export async function dumpTables(db: Database, tables: readonly string[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of tables) {
    const rows = await db.query(sql`SELECT row_to_json(x)::text AS j FROM ${sql.ident(t)} x ORDER BY 1`);
    out[t] = rows.map((r) => r.j as string);
  }
  return out;
}

export const PROJECTED_TABLES = ['sender_accounts', 'sender_account_events', 'email_queue', 'send_logs', 'open_events', 'click_events', 'suppression_events', 'unsubscribe_list'] as const;
export const PRIMARY_TABLES = ['deliveries', 'suppressions', 'secrets', 'account_epochs', 'quota_usage', 'idempotency_keys', 'schema_migrations'] as const;
