import { Type, type Static } from '@sinclair/typebox';
import { derivedId } from '../ids.js';
import { CampaignTag, EventId, IsoTime, MessageId } from '../schema.js';
import { envelope } from './envelope.js';

/** How a hit looked: a person, a mail provider's image proxy or prefetch, or a link scanner. */
export const HitSource = Type.Union([Type.Literal('human'), Type.Literal('proxy'), Type.Literal('scanner'), Type.Literal('unknown')]);
export type HitSource = Static<typeof HitSource>;

const Hex64 = Type.String({ pattern: '^[0-9a-f]{64}$' });

/**
 * TRACKING `trk.<accountId>.opened`, one open per event: written until opens were batched
 * (OpensRecorded), still read so older logs replay. No address, no IP: the message id is the
 * link to the recipient.
 */
export const EmailOpened = envelope(
  'EmailOpened',
  1,
  Type.Object({ campaignId: Type.Optional(CampaignTag), source: HitSource }, { additionalProperties: false }),
);
export type EmailOpened = Static<typeof EmailOpened>;

/** Most opens one OpensRecorded carries: at most ~300 bytes each, so ~150 KB, far under the stream's 1 MB message limit. */
export const MAX_OPENS_PER_EVENT = 500;

/**
 * One open inside OpensRecorded: everything an EmailOpened carried, its id the one the open
 * would have had as an EmailOpened (`<messageId>.opened.<source>.<yyyymmddhhmm>`), so readers
 * stay idempotent per open whichever way it was written.
 */
export const RecordedOpen = Type.Object(
  { id: EventId, messageId: MessageId, occurredAt: IsoTime, campaignId: Type.Optional(CampaignTag), source: HitSource },
  { additionalProperties: false },
);
export type RecordedOpen = Static<typeof RecordedOpen>;

/**
 * TRACKING `trk.<accountId>.opened`: the opens of one account that the tracking service
 * buffered in one flush (one message where EmailOpened took one per open). The envelope's id
 * is derived from the open ids (opensRecordedEventId), so a retried publish deduplicates; the
 * same open may still appear in two batches (two flushes within its minute), so readers
 * dedupe by the open's id. Replaces EmailOpened for writing; EmailOpened is still read.
 */
export const OpensRecorded = envelope(
  'OpensRecorded',
  1,
  Type.Object({ opens: Type.Array(RecordedOpen, { minItems: 1, maxItems: MAX_OPENS_PER_EVENT }) }, { additionalProperties: false }),
);
export type OpensRecorded = Static<typeof OpensRecorded>;

/** The id of an OpensRecorded: derived from its opens' ids, in order — the same batch, the same id. */
export function opensRecordedEventId(openIds: readonly string[]): string {
  return derivedId('evt', 'OpensRecorded', ...openIds);
}

/** TRACKING `trk.<accountId>.clicked`: the URL is one that was in the message (it came from its token). */
export const LinkClicked = envelope(
  'LinkClicked',
  1,
  Type.Object(
    { campaignId: Type.Optional(CampaignTag), url: Type.String({ minLength: 1, maxLength: 4096 }), source: HitSource },
    { additionalProperties: false },
  ),
);
export type LinkClicked = Static<typeof LinkClicked>;

/** TRACKING `trk.<accountId>.unsubscribed`: the recipient's hash (SHA-256 of the normalised address), never the address. */
export const Unsubscribed = envelope(
  'Unsubscribed',
  1,
  Type.Object(
    {
      campaignId: Type.Optional(CampaignTag),
      addressHash: Hex64,
      method: Type.Union([Type.Literal('one_click'), Type.Literal('page'), Type.Literal('mailto'), Type.Literal('admin')]),
    },
    { additionalProperties: false },
  ),
);
export type Unsubscribed = Static<typeof Unsubscribed>;

/**
 * SUPPRESSION `supp.<shard>` (shard: first byte of the hash, mod 16): the address may not be
 * mailed. Written after the suppression row; a reconciler appends events that are missing.
 */
export const AddressSuppressed = envelope(
  'AddressSuppressed',
  1,
  Type.Object(
    {
      addressHash: Hex64,
      reason: Type.String({ minLength: 1, maxLength: 100 }),
      source: Type.String({ minLength: 1, maxLength: 100 }),
      actor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    },
    { additionalProperties: false },
  ),
);
export type AddressSuppressed = Static<typeof AddressSuppressed>;

/**
 * The id of a suppression row's AddressSuppressed event: derived from the row itself (its
 * address hash and created_at in microseconds), so whoever publishes it — tracking, the admin,
 * the bounce processor, a reconciler — it is one fact.
 */
export function suppressionEventId(addressHashHex: string, createdAtMicros: number): string {
  return derivedId('evt', 'AddressSuppressed', addressHashHex, createdAtMicros);
}

/** SUPPRESSION: a person lifted a suppression, with a reason (audited). */
export const SuppressionRemoved = envelope(
  'SuppressionRemoved',
  1,
  Type.Object(
    { addressHash: Hex64, reason: Type.String({ minLength: 1, maxLength: 500 }), actor: Type.String({ minLength: 1, maxLength: 200 }) },
    { additionalProperties: false },
  ),
);
export type SuppressionRemoved = Static<typeof SuppressionRemoved>;

export type TrackingEvent = EmailOpened | OpensRecorded | LinkClicked | Unsubscribed;
export type SuppressionEvent = AddressSuppressed | SuppressionRemoved;
export const trackingEventSchemas = [EmailOpened, OpensRecorded, LinkClicked, Unsubscribed, AddressSuppressed, SuppressionRemoved] as const;

export const TRACKING_SUBJECT_TOKEN: Record<TrackingEvent['type'], string> = {
  EmailOpened: 'opened',
  OpensRecorded: 'opened',
  LinkClicked: 'clicked',
  Unsubscribed: 'unsubscribed',
};

/** The SUPPRESSION shard of an address hash (hex). */
export function suppressionShard(addressHashHex: string): number {
  return parseInt(addressHashHex.slice(0, 2), 16) % 16;
}
