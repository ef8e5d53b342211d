import type { QueueEvent } from './queue-row.js';
import { canonicalTime } from './time.js';

/** One `send_logs` row: the event as history, keyed by its id (a copy of an event adds nothing). */
export interface SendLogRow {
  readonly eventId: string;
  readonly messageId: string;
  readonly accountId: string | null;
  readonly type: string;
  readonly attempt: number | null;
  readonly occurredAt: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

export function sendLogOf(e: QueueEvent): SendLogRow {
  return {
    eventId: e.id,
    messageId: e.messageId,
    accountId: e.accountId ?? null,
    type: e.type,
    attempt: 'attempt' in e.data ? e.data.attempt : null,
    occurredAt: canonicalTime(e.occurredAt),
    detail: detailOf(e),
  };
}

/** The event's data without its bulky parts: a request keeps no body, only what identifies it. */
function detailOf(e: QueueEvent): Readonly<Record<string, unknown>> {
  if (e.type === 'EmailRequested') {
    const { kind, campaignId, content } = e.data;
    return { kind, subject: content.subject, ...(campaignId !== undefined ? { campaignId } : {}) };
  }
  return e.data;
}
