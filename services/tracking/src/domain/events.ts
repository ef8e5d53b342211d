import { createHash } from 'node:crypto';
import {
  AccountId,
  CampaignTag,
  MessageId,
  checker,
  opensRecordedEventId,
  suppressionEventId,
  type AddressSuppressed,
  type HitSource,
  type LinkClicked,
  type OpensRecorded,
  type RecordedOpen,
  type Unsubscribed,
} from '@postbus/contracts';

/**
 * The facts tracking appends, built without I/O (time arrives as an argument). Event ids are
 * derived from their cause, so a retried publish carries the same id and JetStream's duplicate
 * window (and the projections, which key on the id) drop the copy:
 *
 * - An open `<messageId>.opened.<source>.<yyyymmddhhmm>` (inside OpensRecorded, whose own id
 *   derives from its opens' ids) and LinkClicked
 *   `<messageId>.clicked.<url hash>.<source>.<yyyymmddhhmm>`: the minute of the hit is fixed
 *   when the request arrives and travels with the event, so a retried publish is the same
 *   fact; hits in different minutes are distinct facts (a person reading the mail twice),
 *   and the burst a client or an image proxy makes within one minute counts once. The source
 *   is part of the id so a proxy's prefetch does not swallow a person's open in that minute.
 * - Unsubscribed `<messageId>.unsubscribed`: a message has one unsubscribe; pressing the
 *   button again (or a client retrying the one-click POST) is the same fact.
 * - AddressSuppressed: derived from the address hash and the suppression row's created_at
 *   (microseconds), i.e. from the row itself: one event per suppression, whoever publishes it.
 */
export type UnsubscribeMethod = Unsubscribed['data']['method'];

/** The ids a token carries, already checked against the event schemas. */
export interface MessageRef {
  readonly messageId: string;
  readonly accountId: string;
}

const isMessageId = checker(MessageId);
const isAccountId = checker(AccountId);
const isCampaignTag = checker(CampaignTag);

/**
 * Tokens are authenticated, so their ids are ours; still, an id that does not fit the event
 * schemas (or a subject token) must not reach the log. Undefined when it does not fit.
 */
export function messageRef(payload: { readonly messageId: string; readonly accountId: string }): MessageRef | undefined {
  return isMessageId.Check(payload.messageId) && isAccountId.Check(payload.accountId)
    ? { messageId: payload.messageId, accountId: payload.accountId }
    : undefined;
}

export function campaignTag(campaignId: string | undefined): string | undefined {
  return campaignId !== undefined && isCampaignTag.Check(campaignId) ? campaignId : undefined;
}

/** `yyyymmddhhmm` in UTC. */
export function minuteStamp(at: Date): string {
  return stampOf(at.toISOString());
}

/** `yyyymmddhhmm` of an ISO time (`yyyy-mm-ddThh:mm…`). */
function stampOf(iso: string): string {
  return iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16);
}

function urlKey(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 12);
}

/** One open, as it goes into an OpensRecorded: its id is the open's own (one fact per message, source and minute). */
export function recordedOpen(ref: MessageRef, source: HitSource, at: Date): RecordedOpen {
  const occurredAt = at.toISOString();
  return { id: `${ref.messageId}.opened.${source}.${stampOf(occurredAt)}`, messageId: ref.messageId, occurredAt, source };
}

/**
 * One account's opens of one flush (at most MAX_OPENS_PER_EVENT, already without repeated
 * ids) as one event. Everything in it comes from the opens — the id from their ids, the time
 * from the latest — so publishing the same batch again is the same event.
 */
export function opensRecordedEvent(accountId: string, opens: readonly RecordedOpen[]): OpensRecorded {
  let latest = opens[0]!.occurredAt;
  for (const o of opens) if (o.occurredAt > latest) latest = o.occurredAt;
  return {
    id: opensRecordedEventId(opens.map((o) => o.id)),
    type: 'OpensRecorded',
    version: 1,
    occurredAt: latest,
    accountId,
    data: { opens: [...opens] },
  };
}

export function clickedEvent(ref: MessageRef, url: string, source: HitSource, at: Date): LinkClicked {
  return {
    id: `${ref.messageId}.clicked.${urlKey(url)}.${source}.${minuteStamp(at)}`,
    type: 'LinkClicked',
    version: 1,
    occurredAt: at.toISOString(),
    accountId: ref.accountId,
    messageId: ref.messageId,
    data: { url, source },
  };
}

export function unsubscribedEvent(ref: MessageRef, addressHashHex: string, method: UnsubscribeMethod, campaignId: string | undefined, at: Date): Unsubscribed {
  const campaign = campaignTag(campaignId);
  return {
    id: `${ref.messageId}.unsubscribed`,
    type: 'Unsubscribed',
    version: 1,
    occurredAt: at.toISOString(),
    accountId: ref.accountId,
    messageId: ref.messageId,
    data: { ...(campaign ? { campaignId: campaign } : {}), addressHash: addressHashHex, method },
  };
}

/** What the suppression list says about the address, as the row was written. */
export interface SuppressionRowRef {
  readonly addressHashHex: string;
  /** The row's created_at in microseconds since the epoch: with the hash, the row's identity. */
  readonly createdAtMicros: number;
  readonly reason: string;
  readonly source: string;
}

export { suppressionEventId };

export function suppressedEvent(row: SuppressionRowRef, ref: MessageRef | undefined, at: Date): AddressSuppressed {
  return {
    id: suppressionEventId(row.addressHashHex, row.createdAtMicros),
    type: 'AddressSuppressed',
    version: 1,
    occurredAt: at.toISOString(),
    ...(ref ? { accountId: ref.accountId, messageId: ref.messageId } : {}),
    data: { addressHash: row.addressHashHex, reason: row.reason, source: row.source, actor: 'recipient' },
  };
}
