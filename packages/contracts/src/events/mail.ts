import { Type, type Static } from '@sinclair/typebox';
import { derivedId } from '../ids.js';
import { AccountId, CampaignTag, Email, EventId, HeaderText, IsoTime, MessageId } from '../schema.js';
import { envelope } from './envelope.js';

export const MessageKind = Type.Union([Type.Literal('bulk'), Type.Literal('transactional')]);
export type MessageKind = Static<typeof MessageKind>;

export const HeaderName = Type.String({ pattern: '^X-[A-Za-z0-9-]{1,60}$' });

/** What the sender composes from: a prepared template and the values for one recipient. */
export const MessageContent = Type.Object(
  {
    to: Email,
    toName: Type.Optional(HeaderText(200)),
    replyTo: Type.Optional(Email),
    subject: HeaderText(998),
    text: Type.Optional(Type.String({ maxLength: 512 * 1024 })),
    html: Type.Optional(Type.String({ maxLength: 512 * 1024 })),
    headers: Type.Optional(Type.Record(HeaderName, HeaderText(998), { maxProperties: 20 })),
    variables: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z0-9_]{1,64}$' }), HeaderText(2000), { maxProperties: 100 })),
    /** Open and click tracking for this message: bulk mail defaults to on, transactional to off (and the global switch wins). */
    tracking: Type.Optional(Type.Object({ opens: Type.Optional(Type.Boolean()), clicks: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type MessageContent = Static<typeof MessageContent>;

/** REQUESTS: a send asked for, not yet given to an account. */
export const EmailRequested = envelope(
  'EmailRequested',
  1,
  Type.Object(
    {
      kind: MessageKind,
      accountId: Type.Optional(AccountId),
      campaignId: Type.Optional(CampaignTag),
      content: MessageContent,
      expiresAt: IsoTime,
      requestedBy: HeaderText(200),
    },
    { additionalProperties: false },
  ),
);
export type EmailRequested = Static<typeof EmailRequested>;

const QueuedFields = {
  assignment: Type.Integer({ minimum: 1 }),
  attempt: Type.Integer({ minimum: 1 }),
  kind: MessageKind,
  to: Email,
  subject: HeaderText(998),
  campaignId: Type.Optional(CampaignTag),
  requestedAt: IsoTime,
  /** The orchestrator leader's epoch that dispatched it. */
  leaderEpoch: Type.Optional(Type.Integer({ minimum: 1 })),
};

/** MAIL: given to an account (assignment) for an attempt. Carries what the read tables show. */
export const EmailQueued = envelope('EmailQueued', 1, Type.Object(QueuedFields, { additionalProperties: false }));
export type EmailQueued = Static<typeof EmailQueued>;

/** Most messages one EmailsQueued carries: the dispatcher's batch of requests (each well under 2 KB). */
export const MAX_QUEUED_PER_EVENT = 500;

/**
 * One message inside EmailsQueued: everything an EmailQueued carries, its id the one that
 * message's EmailQueued has (`<messageId>.<assignment>.<attempt>.queued`), so readers stay
 * idempotent per message whichever way it was written.
 */
export const RecordedQueue = Type.Object({ id: EventId, messageId: MessageId, occurredAt: IsoTime, ...QueuedFields }, { additionalProperties: false });
export type RecordedQueue = Static<typeof RecordedQueue>;

/**
 * MAIL `mail.<accountId>.queued`: the messages one dispatch gave an account, recorded
 * together (what EmailsSent is to EmailSent). Its id is derived from theirs, so a retried
 * publish deduplicates. The dispatcher writes it for new requests unless told otherwise
 * (POSTBUS_QUEUED_PER_EVENT); retries, moves and republished work stay one EmailQueued each.
 */
export const EmailsQueued = envelope(
  'EmailsQueued',
  1,
  Type.Object({ queued: Type.Array(RecordedQueue, { minItems: 1, maxItems: MAX_QUEUED_PER_EVENT }) }, { additionalProperties: false }),
);
export type EmailsQueued = Static<typeof EmailsQueued>;

/** One account's EmailQueued events as one EmailsQueued (the inverse of queuedOf). */
export function emailsQueued(accountId: string, events: readonly EmailQueued[]): EmailsQueued {
  const queued = events.map(recordOf);
  return {
    id: derivedId('evt', 'EmailsQueued', ...queued.map((x) => x.id)),
    type: 'EmailsQueued',
    version: 1,
    occurredAt: events.at(-1)!.occurredAt,
    accountId,
    data: { queued },
  };
}

/** The EmailQueued each message of an EmailsQueued stands for (the batch's account is each one's). */
export function queuedOf(batch: EmailsQueued): EmailQueued[] {
  return singleEvents('EmailQueued', batch.accountId, batch.data.queued);
}

/** MAIL (unassigned): no account had room; the ledger row waits until one does. */
export const EmailWaiting = envelope(
  'EmailWaiting',
  1,
  Type.Object(
    {
      kind: MessageKind,
      to: Email,
      subject: HeaderText(998),
      campaignId: Type.Optional(CampaignTag),
      requestedAt: IsoTime,
      reason: Type.String({ maxLength: 200 }),
    },
    { additionalProperties: false },
  ),
);
export type EmailWaiting = Static<typeof EmailWaiting>;

const SmtpReply = {
  replyCode: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })),
  enhancedCode: Type.Optional(Type.String({ pattern: '^[245]\\.\\d{1,3}\\.\\d{1,3}$' })),
  response: Type.Optional(Type.String({ maxLength: 1000 })),
};

const SentFields = {
  assignment: Type.Integer({ minimum: 1 }),
  attempt: Type.Integer({ minimum: 1 }),
  startedAt: IsoTime,
  headerMessageId: Type.String({ maxLength: 300 }),
  /** The provider's own id of the message (Gmail's message id); absent for SMTP. */
  providerMessageId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  ...SmtpReply,
};

export const EmailSent = envelope('EmailSent', 1, Type.Object(SentFields, { additionalProperties: false }));
export type EmailSent = Static<typeof EmailSent>;

/** Most sends one EmailsSent carries: each well under 1 KB, so far under the stream's 1 MB message limit. */
export const MAX_SENT_PER_EVENT = 500;

/**
 * One send inside EmailsSent: everything an EmailSent carries, its id the one that send's
 * EmailSent has (`<messageId>.<assignment>.<attempt>.sent`), so readers stay idempotent per
 * send whichever way it was written (a send republished after a crash comes as an EmailSent).
 */
export const RecordedSend = Type.Object({ id: EventId, messageId: MessageId, occurredAt: IsoTime, ...SentFields }, { additionalProperties: false });
export type RecordedSend = Static<typeof RecordedSend>;

/**
 * MAIL `mail.<accountId>.sent`: the sends of one account recorded together, one message where
 * EmailSent takes one per send (what OpensRecorded is to EmailOpened). Its id is derived from
 * the sends' ids (emailsSentEventId), so a retried publish deduplicates; readers dedupe each
 * send by its own id. The sender writes it only when told to (POSTBUS_SENDS_PER_EVENT), so that
 * every reader of a deployment knows it before any writer sends it.
 */
export const EmailsSent = envelope(
  'EmailsSent',
  1,
  Type.Object({ sent: Type.Array(RecordedSend, { minItems: 1, maxItems: MAX_SENT_PER_EVENT }) }, { additionalProperties: false }),
);
export type EmailsSent = Static<typeof EmailsSent>;

/** The id of an EmailsSent: derived from its sends' ids, in order — the same sends, the same id. */
export function emailsSentEventId(sendIds: readonly string[]): string {
  return derivedId('evt', 'EmailsSent', ...sendIds);
}

/** One account's EmailSent events as one EmailsSent: each send keeps its id, time and data (the inverse of sentOf). */
export function emailsSent(accountId: string, sends: readonly EmailSent[]): EmailsSent {
  const sent = sends.map(recordOf);
  return {
    id: emailsSentEventId(sent.map((x) => x.id)),
    type: 'EmailsSent',
    version: 1,
    occurredAt: sends.at(-1)!.occurredAt,
    accountId,
    data: { sent },
  };
}

/** The EmailSent each send of an EmailsSent stands for (the batch's account is each one's). */
export function sentOf(batch: EmailsSent): EmailSent[] {
  return singleEvents('EmailSent', batch.accountId, batch.data.sent);
}

/** What a single event keeps beside its data inside a batch (EmailsSent, EmailsQueued). */
interface Recorded {
  readonly id: string;
  readonly messageId: string;
  readonly occurredAt: string;
}

/** A single event as its record inside a batch: its own id, message and time beside its data. */
function recordOf<D extends object>(e: { readonly id: string; readonly messageId?: string; readonly occurredAt: string; readonly data: D }): Recorded & D {
  return { id: e.id, messageId: e.messageId!, occurredAt: e.occurredAt, ...e.data };
}

/** The single events of `type` a batch's records stand for (the batch's account is each one's). */
function singleEvents<T extends string, R extends Recorded>(type: T, accountId: string | undefined, records: readonly R[]) {
  return records.map(({ id, messageId, occurredAt, ...data }) => ({
    id,
    type,
    version: 1 as const,
    occurredAt,
    ...(accountId !== undefined ? { accountId } : {}),
    messageId,
    data,
  }));
}

export const FailureScope = Type.Union([
  Type.Literal('message'),
  Type.Literal('account'),
  Type.Literal('platform'),
  Type.Literal('infrastructure'),
]);

/** A failed attempt that will be tried again (`nextAttemptAt`). */
export const EmailSendFailed = envelope(
  'EmailSendFailed',
  1,
  Type.Object(
    {
      assignment: Type.Integer({ minimum: 1 }),
      attempt: Type.Integer({ minimum: 1 }),
      scope: FailureScope,
      reason: Type.String({ maxLength: 100 }),
      attemptConsumed: Type.Boolean(),
      nextAttemptAt: IsoTime,
      ...SmtpReply,
    },
    { additionalProperties: false },
  ),
);
export type EmailSendFailed = Static<typeof EmailSendFailed>;

/** Final: the message will not be sent (reason `quarantined` for a message that crashes workers). */
export const EmailFailed = envelope(
  'EmailFailed',
  1,
  Type.Object(
    {
      attempt: Type.Integer({ minimum: 0 }),
      reason: Type.String({ maxLength: 100 }),
      ...SmtpReply,
    },
    { additionalProperties: false },
  ),
);
export type EmailFailed = Static<typeof EmailFailed>;

export const EmailSuppressed = envelope(
  'EmailSuppressed',
  1,
  Type.Object({ attempt: Type.Integer({ minimum: 1 }), readAt: IsoTime }, { additionalProperties: false }),
);
export type EmailSuppressed = Static<typeof EmailSuppressed>;

/** The window after DATA: the server may have the message. Shown to a person, never retried blindly. */
export const EmailUncertain = envelope(
  'EmailUncertain',
  1,
  Type.Object(
    { attempt: Type.Integer({ minimum: 1 }), reason: Type.String({ maxLength: 200 }) },
    { additionalProperties: false },
  ),
);
export type EmailUncertain = Static<typeof EmailUncertain>;

export const EmailExpired = envelope(
  'EmailExpired',
  1,
  Type.Object({ expiresAt: IsoTime }, { additionalProperties: false }),
);
export type EmailExpired = Static<typeof EmailExpired>;

/**
 * A message cancelled before it was claimed (a person's cancel, or its campaign's). Carries
 * the ledger row's assignment and attempt, so an `EmailQueued` of the same attempt published
 * after it (the dispatcher raced the cancel) does not bring the message back in the read tables.
 */
export const EmailCancelled = envelope(
  'EmailCancelled',
  1,
  Type.Object(
    {
      assignment: Type.Integer({ minimum: 0 }),
      attempt: Type.Integer({ minimum: 0 }),
      campaignId: Type.Optional(CampaignTag),
      reason: Type.String({ maxLength: 500 }),
      actor: HeaderText(200),
    },
    { additionalProperties: false },
  ),
);
export type EmailCancelled = Static<typeof EmailCancelled>;

export type MailEvent =
  | EmailQueued
  | EmailWaiting
  | EmailSent
  | EmailSendFailed
  | EmailFailed
  | EmailSuppressed
  | EmailUncertain
  | EmailExpired
  | EmailCancelled;

export const mailEventSchemas = [
  EmailQueued,
  EmailWaiting,
  EmailSent,
  EmailSendFailed,
  EmailFailed,
  EmailSuppressed,
  EmailUncertain,
  EmailExpired,
  EmailCancelled,
] as const;

/** MAIL events that carry the facts of many messages. */
export type MailBatchEvent = EmailsSent | EmailsQueued;

/** The subject token of each MAIL event (`mail.<accountId>.<token>`). */
export const MAIL_SUBJECT_TOKEN: Record<MailEvent['type'], string> = {
  EmailQueued: 'queued',
  EmailWaiting: 'waiting',
  EmailSent: 'sent',
  EmailSendFailed: 'send_failed',
  EmailFailed: 'failed',
  EmailSuppressed: 'suppressed',
  EmailUncertain: 'uncertain',
  EmailExpired: 'expired',
  EmailCancelled: 'cancelled',
};

/** The subject token of each MAIL batch event: the token of the facts it carries. */
export const MAIL_BATCH_SUBJECT_TOKEN: Record<MailBatchEvent['type'], string> = {
  EmailsSent: MAIL_SUBJECT_TOKEN.EmailSent,
  EmailsQueued: MAIL_SUBJECT_TOKEN.EmailQueued,
};

/** A MAIL event carrying the facts of many messages (EmailsSent, EmailsQueued). */
export function isMailBatch(e: { readonly type: string }): e is MailBatchEvent {
  return Object.hasOwn(MAIL_BATCH_SUBJECT_TOKEN, e.type);
}

/** The single events a MAIL batch stands for, each with its own id: what every reader folds. */
export function singlesOf(batch: MailBatchEvent): Array<EmailSent | EmailQueued> {
  return batch.type === 'EmailsSent' ? sentOf(batch) : queuedOf(batch);
}

/** DISPATCH work item: small; the content is read from the ledger in the claim. */
export const WorkItem = Type.Object(
  {
    messageId: MessageId,
    accountId: AccountId,
    assignment: Type.Integer({ minimum: 1 }),
    attempt: Type.Integer({ minimum: 1 }),
    dispatchedAt: IsoTime,
    leaderEpoch: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type WorkItem = Static<typeof WorkItem>;
export function workItemMsgId(w: Pick<WorkItem, 'messageId' | 'assignment' | 'attempt'>): string {
  return `${w.messageId}.${w.assignment}.${w.attempt}`;
}
