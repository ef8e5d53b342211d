import type { EmailRequested, MailEvent } from '@postbus/contracts';
import { canonicalTime, laterOf } from './time.js';

/**
 * One `email_queue` row as a pure fold of the events of one message, from two streams:
 * REQUESTS (EmailRequested) and MAIL. The two streams are read in parallel, so the fold
 * must give the same row whatever their interleaving; within MAIL the order is fixed.
 *
 * How that holds: the columns are split by owner.
 * - Request columns (kind, recipient, subject, campaign_id, requested_at): EmailRequested
 *   writes its value over what is there unless its value is absent; MAIL events only fill
 *   columns still empty. Either order ends with the request's value, else MAIL's first.
 * - Delivery columns (status, account_id, assignment, attempt, queued_at, sent_at,
 *   outcome_at, last_reason, reply_code) are written by MAIL events only; EmailRequested
 *   starts a row in the same state a MAIL event would start from ('requested', 0, 0).
 * - updated_at is the latest occurredAt of any event folded in: max commutes.
 */
export type QueueStatus =
  | 'requested'
  | 'waiting'
  | 'queued'
  | 'retry_wait'
  | 'sent'
  | 'failed'
  | 'suppressed'
  | 'uncertain'
  | 'expired'
  | 'cancelled';

export interface QueueRow {
  readonly messageId: string;
  readonly kind: string | null;
  readonly recipient: string | null;
  readonly subject: string | null;
  readonly campaignId: string | null;
  readonly accountId: string | null;
  readonly status: QueueStatus;
  readonly assignment: number;
  readonly attempt: number;
  readonly requestedAt: string | null;
  readonly queuedAt: string | null;
  readonly sentAt: string | null;
  readonly outcomeAt: string | null;
  readonly lastReason: string | null;
  readonly replyCode: number | null;
  readonly updatedAt: string;
}

export type QueueEvent = (EmailRequested | MailEvent) & { readonly messageId: string };

export const STATUS_OF: Readonly<Record<MailEvent['type'], QueueStatus>> = {
  EmailQueued: 'queued',
  EmailWaiting: 'waiting',
  EmailSent: 'sent',
  EmailSendFailed: 'retry_wait',
  EmailFailed: 'failed',
  EmailSuppressed: 'suppressed',
  EmailUncertain: 'uncertain',
  EmailExpired: 'expired',
  EmailCancelled: 'cancelled',
};

export const FINAL_STATUSES: ReadonlySet<QueueStatus> = new Set(['sent', 'failed', 'suppressed', 'uncertain', 'expired', 'cancelled']);

export function initialQueueRow(messageId: string, at: string): QueueRow {
  return {
    messageId,
    kind: null,
    recipient: null,
    subject: null,
    campaignId: null,
    accountId: null,
    status: 'requested',
    assignment: 0,
    attempt: 0,
    requestedAt: null,
    queuedAt: null,
    sentAt: null,
    outcomeAt: null,
    lastReason: null,
    replyCode: null,
    updatedAt: at,
  };
}

export function evolveQueueRow(current: QueueRow | null, event: QueueEvent): QueueRow {
  const at = canonicalTime(event.occurredAt);
  const row = current ?? initialQueueRow(event.messageId, at);
  const touched: QueueRow = { ...row, updatedAt: laterOf(row.updatedAt, at) };
  if (event.type === 'EmailRequested') {
    const c = event.data.content;
    return {
      ...touched,
      kind: event.data.kind,
      recipient: c.to,
      subject: c.subject,
      campaignId: event.data.campaignId ?? row.campaignId,
      requestedAt: at,
    };
  }
  const filled = fillRequestColumns(touched, event);
  return supersedes(row, event) ? deliveryState(filled, event, at) : filled;
}

/** Folds events in order into the rows given; returns every row touched. */
export function foldQueueRows(rows: ReadonlyMap<string, QueueRow>, events: readonly QueueEvent[]): Map<string, QueueRow> {
  const out = new Map<string, QueueRow>();
  for (const e of events) out.set(e.messageId, evolveQueueRow(out.get(e.messageId) ?? rows.get(e.messageId) ?? null, e));
  return out;
}

function fillRequestColumns(row: QueueRow, e: MailEvent): QueueRow {
  if (e.type !== 'EmailQueued' && e.type !== 'EmailWaiting') return row;
  return {
    ...row,
    kind: row.kind ?? e.data.kind,
    recipient: row.recipient ?? e.data.to,
    subject: row.subject ?? e.data.subject,
    campaignId: row.campaignId ?? e.data.campaignId ?? null,
    requestedAt: row.requestedAt ?? canonicalTime(e.data.requestedAt),
  };
}

type Rank = readonly [assignment: number, attempt: number];

/**
 * The attempt an event speaks for. Events without an assignment belong to the row's current
 * one, unless they name another account than the row's: then they are from an older one.
 */
function rankOf(row: QueueRow, e: MailEvent): Rank | 'stale' {
  switch (e.type) {
    case 'EmailQueued':
    case 'EmailSent':
    case 'EmailSendFailed':
    case 'EmailCancelled':
      return [e.data.assignment, e.data.attempt];
    case 'EmailFailed':
    case 'EmailSuppressed':
    case 'EmailUncertain':
      return fromOtherAccount(row, e) ? 'stale' : [row.assignment, e.data.attempt];
    case 'EmailWaiting':
    case 'EmailExpired':
      return fromOtherAccount(row, e) ? 'stale' : [row.assignment, row.attempt];
    default: {
      const never: never = e;
      return never;
    }
  }
}

function fromOtherAccount(row: QueueRow, e: MailEvent): boolean {
  return e.accountId !== undefined && row.accountId !== null && e.accountId !== row.accountId;
}

/** Whether a MAIL event sets the delivery state, given the state the row is in. */
export function supersedes(row: QueueRow, e: MailEvent): boolean {
  const next = STATUS_OF[e.type];
  // A send the server accepted is the truth, whatever an earlier recovery guessed.
  if (next === 'sent' && row.status === 'uncertain') return true;
  if (next === 'uncertain' && row.status === 'sent') return false;
  const rank = rankOf(row, e);
  if (rank === 'stale') return false;
  const cmp = rank[0] - row.assignment || rank[1] - row.attempt;
  if (cmp !== 0) return cmp > 0;
  // The same attempt: it moves on unless it has already ended.
  return !FINAL_STATUSES.has(row.status);
}

function deliveryState(row: QueueRow, e: MailEvent, at: string): QueueRow {
  const status = STATUS_OF[e.type];
  const account = e.accountId ?? row.accountId;
  switch (e.type) {
    case 'EmailQueued':
      return { ...row, status, accountId: account, assignment: e.data.assignment, attempt: e.data.attempt, queuedAt: at, outcomeAt: null };
    case 'EmailWaiting':
      return { ...row, status, accountId: null, outcomeAt: null, lastReason: e.data.reason };
    case 'EmailSent':
      return {
        ...row,
        status,
        accountId: account,
        assignment: e.data.assignment,
        attempt: e.data.attempt,
        sentAt: at,
        outcomeAt: at,
        lastReason: null,
        replyCode: e.data.replyCode ?? null,
      };
    case 'EmailSendFailed':
      return {
        ...row,
        status,
        accountId: account,
        assignment: e.data.assignment,
        attempt: e.data.attempt,
        outcomeAt: null,
        lastReason: e.data.reason,
        replyCode: e.data.replyCode ?? null,
      };
    case 'EmailFailed':
      return { ...row, status, accountId: account, attempt: e.data.attempt, outcomeAt: at, lastReason: e.data.reason, replyCode: e.data.replyCode ?? null };
    case 'EmailSuppressed':
      return { ...row, status, accountId: account, attempt: e.data.attempt, outcomeAt: at, lastReason: 'suppressed' };
    case 'EmailUncertain':
      return { ...row, status, accountId: account, attempt: e.data.attempt, outcomeAt: at, lastReason: e.data.reason };
    case 'EmailExpired':
      return { ...row, status, accountId: account, outcomeAt: at, lastReason: 'expired' };
    case 'EmailCancelled':
      // The attempt it cancelled: that attempt's EmailQueued, published after a racing cancel, ranks no higher.
      return { ...row, status, accountId: account, assignment: e.data.assignment, attempt: e.data.attempt, outcomeAt: at, lastReason: 'cancelled' };
    default: {
      const never: never = e;
      return never;
    }
  }
}
