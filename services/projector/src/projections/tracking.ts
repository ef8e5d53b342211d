import { streamName, type EmailOpened, type LinkClicked, type Namespace, type OpensRecorded, type PostbusEvent, type SuppressionEvent, type Unsubscribed } from '@postbus/contracts';
import { sql, type Projection, type StoredMessage, type Transaction } from '@postbus/db';
import { decodeBatch } from '../adapters/decode.js';
import { firstOfEach, ts } from '../adapters/sql.js';
import { canonicalTime } from '../domain/time.js';
import { unsubscribeRows, type SuppressionFact, type UnsubscribeRow } from '../domain/unsubscribe-row.js';
import { silentLog, type ProjectionOptions } from '../options.js';

export const TRACKING_PROJECTION = 'tracking';
export const TRACKING_LOCK_KEY = 7_240_103;

const ddl = [
  sql`CREATE TABLE IF NOT EXISTS open_events (
    event_id     text PRIMARY KEY,
    message_id   text NOT NULL,
    account_id   text,
    campaign_id  text,
    source       text NOT NULL,
    occurred_at  timestamptz NOT NULL
  )`,
  sql`CREATE INDEX IF NOT EXISTS open_events_message ON open_events (message_id)`,
  sql`CREATE INDEX IF NOT EXISTS open_events_account ON open_events (account_id, occurred_at)`,
  sql`CREATE INDEX IF NOT EXISTS open_events_campaign ON open_events (campaign_id, occurred_at) WHERE campaign_id IS NOT NULL`,
  sql`CREATE TABLE IF NOT EXISTS click_events (
    event_id     text PRIMARY KEY,
    message_id   text NOT NULL,
    account_id   text,
    campaign_id  text,
    url          text NOT NULL,
    source       text NOT NULL,
    occurred_at  timestamptz NOT NULL
  )`,
  sql`CREATE INDEX IF NOT EXISTS click_events_message ON click_events (message_id)`,
  sql`CREATE INDEX IF NOT EXISTS click_events_account ON click_events (account_id, occurred_at)`,
  sql`CREATE INDEX IF NOT EXISTS click_events_campaign ON click_events (campaign_id, occurred_at) WHERE campaign_id IS NOT NULL`,
  // Every unsubscribe, suppression and removal by event id: the history, the dedupe of both
  // streams, and what unsubscribe_list rows are computed from. Hashes only, never an address.
  sql`CREATE TABLE IF NOT EXISTS suppression_events (
    event_id      text PRIMARY KEY,
    type          text NOT NULL,
    address_hash  text NOT NULL,
    message_id    text,
    account_id    text,
    campaign_id   text,
    reason        text NOT NULL,
    source        text,
    actor         text,
    occurred_at   timestamptz NOT NULL
  )`,
  sql`CREATE INDEX IF NOT EXISTS suppression_events_hash ON suppression_events (address_hash, occurred_at)`,
  sql`CREATE TABLE IF NOT EXISTS unsubscribe_list (
    address_hash     text PRIMARY KEY,
    message_id       text,
    account_id       text,
    campaign_id      text,
    method           text NOT NULL,
    unsubscribed_at  timestamptz NOT NULL
  )`,
  sql`CREATE INDEX IF NOT EXISTS unsubscribe_list_campaign ON unsubscribe_list (campaign_id) WHERE campaign_id IS NOT NULL`,
];

type Read = EmailOpened | OpensRecorded | LinkClicked | Unsubscribed | SuppressionEvent;
const READ_TYPES = new Set<string>(['EmailOpened', 'OpensRecorded', 'LinkClicked', 'Unsubscribed', 'AddressSuppressed', 'SuppressionRemoved']);
const isRead = (e: PostbusEvent): e is Read => READ_TYPES.has(e.type);

/** One row of open_events: an open, however it was written. */
interface OpenRow {
  readonly eventId: string;
  readonly messageId: string;
  readonly accountId: string | null;
  readonly campaignId: string | null;
  readonly source: string;
  readonly occurredAt: string;
}

/**
 * `open_events`, `click_events` (one row per hit, source kept: a proxy's prefetch is not a
 * person), `suppression_events` (history) and `unsubscribe_list` (the addresses currently
 * unsubscribed, by hash) from TRACKING and SUPPRESSION. An open is a row whether it came as
 * an EmailOpened (logs written before opens were batched) or inside an OpensRecorded; its
 * row is keyed by the open's own id, so an open in two batches, or copied, is one row.
 */
export function trackingProjection(ns: Namespace, opts: ProjectionOptions = {}): Projection {
  const ctx = { projection: TRACKING_PROJECTION, ns, log: opts.log ?? silentLog };
  return {
    name: TRACKING_PROJECTION,
    lockKey: TRACKING_LOCK_KEY,
    streams: [streamName(ns, 'TRACKING'), streamName(ns, 'SUPPRESSION')],
    tables: ['open_events', 'click_events', 'suppression_events', 'unsubscribe_list'],
    ddl,
    async apply(tx: Transaction, messages: readonly StoredMessage[]) {
      const events = decodeBatch(ctx, messages, isRead);
      const opens: OpenRow[] = [];
      const clicks: LinkClicked[] = [];
      const facts: SuppressionFact[] = [];
      const withoutMessage = (e: Read) => ctx.log.warn({ projection: TRACKING_PROJECTION, eventId: e.id }, 'skipping a hit without a message id');
      for (const e of events) {
        switch (e.type) {
          case 'OpensRecorded':
            for (const o of e.data.opens) {
              opens.push({ eventId: o.id, messageId: o.messageId, accountId: e.accountId ?? null, campaignId: o.campaignId ?? null, source: o.source, occurredAt: canonicalTime(o.occurredAt) });
            }
            break;
          case 'EmailOpened':
            if (e.messageId === undefined) withoutMessage(e);
            else opens.push({ eventId: e.id, messageId: e.messageId, accountId: e.accountId ?? null, campaignId: e.data.campaignId ?? null, source: e.data.source, occurredAt: canonicalTime(e.occurredAt) });
            break;
          case 'LinkClicked':
            if (e.messageId === undefined) withoutMessage(e);
            else clicks.push(e);
            break;
          default:
            facts.push(factOf(e));
        }
      }
      await insertOpens(tx, opens);
      await insertClicks(tx, clicks);
      const touched = await insertFacts(tx, facts);
      if (touched.length > 0) await recomputeUnsubscribes(tx, touched);
    },
  };
}

function factOf(e: Unsubscribed | SuppressionEvent): SuppressionFact {
  const common = { eventId: e.id, type: e.type, addressHash: e.data.addressHash, messageId: e.messageId ?? null, accountId: e.accountId ?? null, occurredAt: canonicalTime(e.occurredAt) };
  switch (e.type) {
    case 'Unsubscribed':
      return { ...common, campaignId: e.data.campaignId ?? null, reason: e.data.method, source: null, actor: null };
    case 'AddressSuppressed':
      return { ...common, campaignId: null, reason: e.data.reason, source: e.data.source, actor: e.data.actor ?? null };
    case 'SuppressionRemoved':
      return { ...common, campaignId: null, reason: e.data.reason, source: null, actor: e.data.actor };
    default: {
      const never: never = e;
      throw new Error(`unexpected event ${(never as PostbusEvent).type}`);
    }
  }
}

async function insertOpens(tx: Transaction, opens: readonly OpenRow[]): Promise<void> {
  const rows = firstOfEach(opens, (o) => o.eventId);
  if (rows.length === 0) return;
  const col = <K extends keyof OpenRow>(k: K) => rows.map((r) => r[k]);
  await tx.query(sql`
    INSERT INTO open_events (event_id, message_id, account_id, campaign_id, source, occurred_at)
    SELECT * FROM unnest(${col('eventId')}::text[], ${col('messageId')}::text[], ${col('accountId')}::text[],
                         ${col('campaignId')}::text[], ${col('source')}::text[], ${col('occurredAt')}::timestamptz[])
    ON CONFLICT (event_id) DO NOTHING`);
}

async function insertClicks(tx: Transaction, events: readonly LinkClicked[]): Promise<void> {
  const rows = firstOfEach(events, (e) => e.id);
  if (rows.length === 0) return;
  await tx.query(sql`
    INSERT INTO click_events (event_id, message_id, account_id, campaign_id, url, source, occurred_at)
    SELECT * FROM unnest(${rows.map((e) => e.id)}::text[], ${rows.map((e) => e.messageId)}::text[], ${rows.map((e) => e.accountId ?? null)}::text[],
                         ${rows.map((e) => e.data.campaignId ?? null)}::text[], ${rows.map((e) => e.data.url)}::text[],
                         ${rows.map((e) => e.data.source)}::text[], ${rows.map((e) => canonicalTime(e.occurredAt))}::timestamptz[])
    ON CONFLICT (event_id) DO NOTHING`);
}

/** Inserts the facts not seen before; returns the hashes they touch. */
async function insertFacts(tx: Transaction, facts: readonly SuppressionFact[]): Promise<string[]> {
  const rows = firstOfEach(facts, (f) => f.eventId);
  if (rows.length === 0) return [];
  const col = <K extends keyof SuppressionFact>(k: K) => rows.map((r) => r[k]);
  const inserted = await tx.query(sql`
    INSERT INTO suppression_events (event_id, type, address_hash, message_id, account_id, campaign_id, reason, source, actor, occurred_at)
    SELECT * FROM unnest(${col('eventId')}::text[], ${col('type')}::text[], ${col('addressHash')}::text[], ${col('messageId')}::text[],
                         ${col('accountId')}::text[], ${col('campaignId')}::text[], ${col('reason')}::text[], ${col('source')}::text[],
                         ${col('actor')}::text[], ${col('occurredAt')}::timestamptz[])
    ON CONFLICT (event_id) DO NOTHING
    RETURNING address_hash`);
  return [...new Set(inserted.map((r) => r.address_hash as string))];
}

/** Computes the rows of the touched hashes from all their facts: the order the facts arrived in does not matter. */
async function recomputeUnsubscribes(tx: Transaction, hashes: readonly string[]): Promise<void> {
  const facts = await tx.query(sql`
    SELECT event_id, type, address_hash, message_id, account_id, campaign_id, reason, source, actor, ${ts('occurred_at')} AS occurred_at
    FROM suppression_events WHERE address_hash = ANY(${hashes}::text[])`);
  const next = unsubscribeRows(
    facts.map((r): SuppressionFact => ({
      eventId: r.event_id,
      type: r.type,
      addressHash: r.address_hash,
      messageId: r.message_id,
      accountId: r.account_id,
      campaignId: r.campaign_id,
      reason: r.reason,
      source: r.source,
      actor: r.actor,
      occurredAt: r.occurred_at,
    })),
  );
  const rows = [...next.values()].filter((r): r is UnsubscribeRow => r !== undefined);
  const gone = [...next].filter(([, r]) => r === undefined).map(([hash]) => hash);
  if (gone.length > 0) await tx.query(sql`DELETE FROM unsubscribe_list WHERE address_hash = ANY(${gone}::text[])`);
  if (rows.length === 0) return;
  const col = <K extends keyof UnsubscribeRow>(k: K) => rows.map((r) => r[k]);
  await tx.query(sql`
    INSERT INTO unsubscribe_list (address_hash, message_id, account_id, campaign_id, method, unsubscribed_at)
    SELECT * FROM unnest(${col('addressHash')}::text[], ${col('messageId')}::text[], ${col('accountId')}::text[],
                         ${col('campaignId')}::text[], ${col('method')}::text[], ${col('unsubscribedAt')}::timestamptz[])
    ON CONFLICT (address_hash) DO UPDATE SET
      message_id = EXCLUDED.message_id, account_id = EXCLUDED.account_id, campaign_id = EXCLUDED.campaign_id,
      method = EXCLUDED.method, unsubscribed_at = EXCLUDED.unsubscribed_at`);
}
