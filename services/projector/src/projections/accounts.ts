import { streamName, type AccountEvent, type Namespace, type PostbusEvent } from '@postbus/contracts';
import { sql, type Projection, type StoredMessage, type Transaction } from '@postbus/db';
import { decodeBatch } from '../adapters/decode.js';
import { foldAccountRows, type AccountFact, type AccountRow } from '../domain/account-row.js';
import { canonicalTime } from '../domain/time.js';
import { firstOfEach, ts } from '../adapters/sql.js';
import { silentLog, type ProjectionOptions } from '../options.js';

export const ACCOUNTS_PROJECTION = 'accounts';
export const ACCOUNTS_LOCK_KEY = 7_240_101;

const ddl = [
  sql`CREATE TABLE IF NOT EXISTS sender_accounts (
    account_id     text PRIMARY KEY,
    name           text NOT NULL,
    provider       text NOT NULL,
    from_address   text NOT NULL,
    from_name      text,
    smtp_host      text NOT NULL,
    smtp_port      integer NOT NULL,
    smtp_tls       text NOT NULL,
    smtp_user      text NOT NULL,
    daily_limit    integer NOT NULL,
    batch_size     integer NOT NULL,
    send_delay_ms  integer NOT NULL,
    postal_address text,
    status         text NOT NULL,
    status_reason  text NOT NULL,
    status_actor   text NOT NULL,
    status_since   timestamptz NOT NULL,
    paused_until   timestamptz,
    warmup         jsonb,
    registered_at  timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        integer NOT NULL
  )`,
  sql`CREATE INDEX IF NOT EXISTS sender_accounts_status ON sender_accounts (status)`,
  // The ids of the events folded in: a copy of an event (same id, published again) changes nothing.
  sql`CREATE TABLE IF NOT EXISTS sender_account_events (
    event_id     text PRIMARY KEY,
    account_id   text NOT NULL,
    type         text NOT NULL,
    occurred_at  timestamptz NOT NULL
  )`,
  sql`CREATE INDEX IF NOT EXISTS sender_account_events_account ON sender_account_events (account_id, occurred_at)`,
];

const ACCOUNT_EVENT_TYPES = new Set<string>(['AccountRegistered', 'AccountSettingsChanged', 'AccountCredentialsChanged', 'AccountPaused', 'AccountSuspended', 'AccountResumed']);
const isAccountEvent = (e: PostbusEvent): e is AccountEvent => ACCOUNT_EVENT_TYPES.has(e.type);

/** `sender_accounts` from ACCOUNTS: the fold of evolveAccount, never a secret. */
export function accountsProjection(ns: Namespace, opts: ProjectionOptions = {}): Projection {
  const ctx = { projection: ACCOUNTS_PROJECTION, ns, log: opts.log ?? silentLog };
  return {
    name: ACCOUNTS_PROJECTION,
    lockKey: ACCOUNTS_LOCK_KEY,
    streams: [streamName(ns, 'ACCOUNTS')],
    tables: ['sender_accounts', 'sender_account_events'],
    ddl,
    async apply(tx: Transaction, messages: readonly StoredMessage[]) {
      const events = decodeBatch(ctx, messages, isAccountEvent).filter((e): e is AccountFact => {
        if (e.accountId !== undefined) return true;
        ctx.log.warn({ projection: ACCOUNTS_PROJECTION, eventId: e.id }, 'skipping an account event without an account id');
        return false;
      });
      if (events.length === 0) return;
      const fresh = await recordEvents(tx, events);
      const news = events.filter((e) => fresh.delete(e.id));
      if (news.length === 0) return;
      const current = await loadRows(tx, [...new Set(news.map((e) => e.accountId))]);
      await upsertRows(tx, [...foldAccountRows(current, news).values()]);
    },
  };
}

async function recordEvents(tx: Transaction, events: readonly AccountFact[]): Promise<Set<string>> {
  const unique = firstOfEach(events, (e) => e.id);
  const rows = await tx.query(sql`
    INSERT INTO sender_account_events (event_id, account_id, type, occurred_at)
    SELECT * FROM unnest(${unique.map((e) => e.id)}::text[], ${unique.map((e) => e.accountId)}::text[],
                         ${unique.map((e) => e.type)}::text[], ${unique.map((e) => canonicalTime(e.occurredAt))}::timestamptz[])
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id`);
  return new Set(rows.map((r) => r.event_id as string));
}

async function loadRows(tx: Transaction, ids: readonly string[]): Promise<Map<string, AccountRow>> {
  const rows = await tx.query(sql`
    SELECT account_id, name, provider, from_address, from_name, smtp_host, smtp_port, smtp_tls, smtp_user, daily_limit,
           batch_size, send_delay_ms, postal_address, status, status_reason, status_actor,
           ${ts('status_since')} AS status_since, ${ts('paused_until')} AS paused_until, warmup, ${ts('registered_at')} AS registered_at,
           ${ts('updated_at')} AS updated_at, version
    FROM sender_accounts WHERE account_id = ANY(${ids}::text[])`);
  return new Map(rows.map((r) => [r.account_id as string, toAccountRow(r)]));
}

function toAccountRow(r: Record<string, any>): AccountRow {
  return {
    accountId: r.account_id,
    name: r.name,
    provider: r.provider,
    fromAddress: r.from_address,
    fromName: r.from_name,
    smtpHost: r.smtp_host,
    smtpPort: r.smtp_port,
    smtpTls: r.smtp_tls,
    smtpUser: r.smtp_user,
    dailyLimit: r.daily_limit,
    batchSize: r.batch_size,
    sendDelayMs: r.send_delay_ms,
    postalAddress: r.postal_address,
    status: r.status,
    statusReason: r.status_reason,
    statusActor: r.status_actor,
    statusSince: r.status_since,
    pausedUntil: r.paused_until,
    warmup: r.warmup === null ? null : JSON.stringify(r.warmup),
    registeredAt: r.registered_at,
    updatedAt: r.updated_at,
    version: r.version,
  };
}

async function upsertRows(tx: Transaction, rows: readonly AccountRow[]): Promise<void> {
  if (rows.length === 0) return;
  const col = <K extends keyof AccountRow>(k: K) => rows.map((r) => r[k]);
  await tx.query(sql`
    INSERT INTO sender_accounts (account_id, name, provider, from_address, from_name, smtp_host, smtp_port, smtp_tls, smtp_user,
                                 daily_limit, batch_size, send_delay_ms, postal_address, status, status_reason, status_actor,
                                 status_since, paused_until, warmup, registered_at, updated_at, version)
    SELECT * FROM unnest(
      ${col('accountId')}::text[], ${col('name')}::text[], ${col('provider')}::text[], ${col('fromAddress')}::text[],
      ${col('fromName')}::text[], ${col('smtpHost')}::text[], ${col('smtpPort')}::int[], ${col('smtpTls')}::text[],
      ${col('smtpUser')}::text[], ${col('dailyLimit')}::int[], ${col('batchSize')}::int[], ${col('sendDelayMs')}::int[],
      ${col('postalAddress')}::text[], ${col('status')}::text[], ${col('statusReason')}::text[], ${col('statusActor')}::text[],
      ${col('statusSince')}::timestamptz[], ${col('pausedUntil')}::timestamptz[], ${col('warmup')}::jsonb[], ${col('registeredAt')}::timestamptz[],
      ${col('updatedAt')}::timestamptz[], ${col('version')}::int[])
    ON CONFLICT (account_id) DO UPDATE SET
      name = EXCLUDED.name, provider = EXCLUDED.provider, from_address = EXCLUDED.from_address, from_name = EXCLUDED.from_name,
      smtp_host = EXCLUDED.smtp_host, smtp_port = EXCLUDED.smtp_port, smtp_tls = EXCLUDED.smtp_tls, smtp_user = EXCLUDED.smtp_user,
      daily_limit = EXCLUDED.daily_limit, batch_size = EXCLUDED.batch_size, send_delay_ms = EXCLUDED.send_delay_ms,
      postal_address = EXCLUDED.postal_address, status = EXCLUDED.status, status_reason = EXCLUDED.status_reason,
      status_actor = EXCLUDED.status_actor, status_since = EXCLUDED.status_since, paused_until = EXCLUDED.paused_until,
      warmup = EXCLUDED.warmup, registered_at = EXCLUDED.registered_at,
      updated_at = EXCLUDED.updated_at, version = EXCLUDED.version`);
}
