import { publishEvent, type Bus } from '@postbus/bus';
import {
  TRACKING_SUBJECT_TOKEN,
  addressHash,
  decodeEvent,
  isPostbusError,
  suppressionShard,
  type AddressSuppressed,
  type LinkClicked,
  type Unsubscribed,
} from '@postbus/contracts';
import { addSuppression, sql, type Database, type Queryable } from '@postbus/db';
import type { SuppressionRowRef } from '../domain/events.js';

/**
 * The unsubscribe outbox. The suppression row and the events that announce it are written in
 * one transaction — the row into `suppressions` (owned by packages/db), the events into
 * `tracking_outbox`, a table of this service's own. The events are then published and their
 * outbox rows deleted; whatever is still in the outbox after a while (NATS was away, the
 * process died between commit and publish) is published by the reconciler. So "a suppression
 * row without its AddressSuppressed event" is exactly "an outbox row": found with an index
 * scan of a table that holds only what is pending, never a scan of the suppression list,
 * and a row's event is published until it is acknowledged, however long NATS is away.
 *
 * Only rows this service writes are covered: other writers of the suppression list (a bounce
 * processor, an admin action) publish their own events.
 *
 * Clicks go through the same table (one row, no suppression): a click is durable before its
 * redirect, then published and deleted in the background, the reconciler covering failures.
 */
export type OutboxEvent = AddressSuppressed | Unsubscribed | LinkClicked;

// Its own key: 7_240_100–7_240_109 are the orchestrator's and the projections'.
const SCHEMA_LOCK = 7_240_120;

/** Created by the service itself (CREATE … IF NOT EXISTS), under a lock so that replicas starting together do not race. */
export async function ensureOutbox(db: Database): Promise<void> {
  await db.tx(async (tx) => {
    await tx.query(sql`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK})`);
    await tx.query(sql`
      CREATE TABLE IF NOT EXISTS tracking_outbox (
        event_id    text PRIMARY KEY,
        event       text NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
      )`);
    await tx.query(sql`CREATE INDEX IF NOT EXISTS tracking_outbox_created_at ON tracking_outbox (created_at)`);
  });
}

export const SUPPRESSION_REASON = 'unsubscribed';
export const SUPPRESSION_SOURCE = 'tracking';

/**
 * Writes the suppression row (if the address is not suppressed yet) and the events into the
 * outbox, in one transaction. `eventsFor` gets the new row, or null when the address was
 * already suppressed (then there is no new AddressSuppressed: the row's writer owns it).
 */
export async function writeUnsubscribe(db: Database, address: string, eventsFor: (created: SuppressionRowRef | null) => OutboxEvent[]): Promise<OutboxEvent[]> {
  return db.tx(async (tx) => {
    let created: SuppressionRowRef | null = null;
    if (await addSuppression(tx, address, SUPPRESSION_REASON, SUPPRESSION_SOURCE)) {
      const hash = addressHash(address);
      const [row] = await tx.query(sql`
        SELECT (extract(epoch FROM created_at) * 1000000)::bigint AS micros FROM suppressions WHERE address_hash = ${hash}`);
      created = { addressHashHex: hash.toString('hex'), createdAtMicros: Number(row!.micros), reason: SUPPRESSION_REASON, source: SUPPRESSION_SOURCE };
    }
    const events = eventsFor(created);
    for (const event of events) await enqueue(tx, event);
    return events;
  });
}

/** Writes events into the outbox on their own (a click: nothing else to commit with it). */
export async function writeOutboxed(db: Queryable, events: readonly OutboxEvent[]): Promise<void> {
  for (const event of events) await enqueue(db, event);
}

async function enqueue(tx: Queryable, event: OutboxEvent): Promise<void> {
  await tx.query(sql`INSERT INTO tracking_outbox (event_id, event) VALUES (${event.id}, ${JSON.stringify(event)}) ON CONFLICT (event_id) DO NOTHING`);
}

export function subjectOf(bus: Bus, event: OutboxEvent): string {
  switch (event.type) {
    case 'AddressSuppressed':
      return bus.subjects.suppression(suppressionShard(event.data.addressHash));
    case 'Unsubscribed':
      return bus.subjects.tracking(event.accountId!, TRACKING_SUBJECT_TOKEN.Unsubscribed);
    case 'LinkClicked':
      return bus.subjects.tracking(event.accountId!, TRACKING_SUBJECT_TOKEN.LinkClicked);
    default: {
      const never: never = event;
      throw new Error(`no subject for ${(never as { type: string }).type}`);
    }
  }
}

export interface PublishOutcome {
  readonly published: string[];
  /** Error codes of the failures (never payloads). */
  readonly failed: Array<{ id: string; code: string }>;
}

/** Publishes concurrently and reports which ids JetStream acknowledged. Never throws. */
export async function publishOutboxed(bus: Bus, events: readonly OutboxEvent[], timeoutMs: number): Promise<PublishOutcome> {
  const results = await Promise.allSettled(events.map((e) => publishEvent(bus, subjectOf(bus, e), e, { timeoutMs })));
  const outcome: PublishOutcome = { published: [], failed: [] };
  results.forEach((r, i) => {
    const id = events[i]!.id;
    if (r.status === 'fulfilled') outcome.published.push(id);
    else outcome.failed.push({ id, code: isPostbusError(r.reason) ? r.reason.code : 'publish_failed' });
  });
  return outcome;
}

export async function removeFromOutbox(db: Queryable, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.query(sql`DELETE FROM tracking_outbox WHERE event_id = ANY(${[...ids]})`);
}

export interface PendingEvent {
  readonly id: string;
  /** Undefined when the stored JSON no longer decodes (reported, left in place). */
  readonly event: OutboxEvent | undefined;
}

/** The oldest outbox rows older than `minAgeMs`, locked for this transaction (others skip them). */
export async function lockPending(tx: Queryable, minAgeMs: number, limit: number): Promise<PendingEvent[]> {
  const rows = await tx.query(sql`
    SELECT event_id, event FROM tracking_outbox
    WHERE created_at <= now() - make_interval(secs => ${minAgeMs / 1000})
    ORDER BY created_at, event_id
    LIMIT ${limit}
    FOR UPDATE SKIP LOCKED`);
  return rows.map((r) => ({ id: r.event_id as string, event: decodeOutboxed(r.event as string) }));
}

function decodeOutboxed(text: string): OutboxEvent | undefined {
  try {
    const event = decodeEvent(text);
    return event.type === 'AddressSuppressed' || event.type === 'Unsubscribed' || event.type === 'LinkClicked' ? event : undefined;
  } catch {
    return undefined;
  }
}

export async function outboxSize(db: Queryable): Promise<number> {
  const [row] = await db.query(sql`SELECT count(*)::int AS n FROM tracking_outbox`);
  return row!.n as number;
}
