import { addressHash, derivedId, suppressionEventId, type AddressSuppressed, type EmailBounced, type EmailComplained, type Unsubscribed } from '@postbus/contracts';

/** What packages/classify found about one recipient of a report (the fields this service uses). */
export interface RecipientFinding {
  readonly recipient: string;
  readonly status?: string | undefined;
  readonly replyCode?: number | undefined;
  readonly diagnostic?: string | undefined;
  readonly reason: string;
  readonly severity: 'hard' | 'soft' | 'sender';
  readonly suppress: boolean;
}

/** The message a finding is about, once matched (by Message-ID, or by address). */
export interface MatchedMessage {
  readonly messageId: string;
  readonly accountId: string | null;
  readonly campaignId: string | null;
}

export interface Where {
  /** `imap:<mailbox id>` or `gmail:<account id>` */
  readonly source: string;
  /** Unique per report mail (`<mailbox>:<uidvalidity>:<uid>`, `gmail:<account>:<message id>`): event ids derive from it. */
  readonly reportKey: string;
  readonly at: Date;
}

export interface SoftBounceRule {
  /** This many soft bounces of one address within the window suppress it. */
  readonly limit: number;
  readonly windowMs: number;
}

export const DEFAULT_SOFT_BOUNCE_RULE: SoftBounceRule = { limit: 3, windowMs: 7 * 86_400_000 };

export type FeedbackOutput = EmailBounced | EmailComplained | AddressSuppressed | Unsubscribed;

export interface Decision {
  /** Suppress the address, for this reason. */
  readonly suppress?: { readonly reason: 'hard_bounce' | 'soft_bounce_repeated' | 'complaint' | 'unsubscribed' };
  /** The row for the bounce history (rates and repeated soft bounces are counted from it). */
  readonly record?: { readonly kind: 'bounce' | 'complaint'; readonly severity: 'hard' | 'soft' | 'sender' | 'complaint'; readonly reason: string; readonly eventId: string };
  /** Events to publish, in order. AddressSuppressed is added by the caller only if the row was new. */
  readonly events: Array<EmailBounced | EmailComplained | Unsubscribed>;
}

/** Addresses in a diagnostic are blanked: events carry the address only as its hash. */
export function scrubDiagnostic(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const clean = text
    .replace(/[^\s<>"'(),;:[\]]+@[^\s<>"'(),;:[\]]+/g, '<address>')
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/\s{2,}/g, ' ')
    .trim();
  return clean.slice(0, 500) || undefined;
}

const statusPattern = /^[245]\.[0-9]{1,3}\.[0-9]{1,3}$/;

/**
 * A bounce of one of our messages. Only a dead address suppresses at once; soft bounces
 * suppress once `softCount` (this one included) reaches the rule's limit; a rejection that
 * is the sender's fault never suppresses — it counts against the account.
 */
export function decideBounce(f: RecipientFinding, m: MatchedMessage, where: Where, softCount: number, rule: SoftBounceRule = DEFAULT_SOFT_BOUNCE_RULE): Decision {
  const eventId = derivedId('evt', where.reportKey, f.recipient, 'bounced');
  const repeated = f.severity === 'soft' && softCount >= rule.limit;
  const suppress = f.severity === 'hard' && f.suppress ? ('hard_bounce' as const) : repeated ? ('soft_bounce_repeated' as const) : undefined;
  const diagnostic = scrubDiagnostic(f.diagnostic);
  const event: EmailBounced = {
    id: eventId,
    type: 'EmailBounced',
    version: 1,
    occurredAt: where.at.toISOString(),
    ...(m.accountId ? { accountId: m.accountId } : {}),
    messageId: m.messageId,
    data: {
      ...(m.campaignId ? { campaignId: m.campaignId } : {}),
      addressHash: addressHash(f.recipient).toString('hex'),
      severity: f.severity,
      reason: f.reason.slice(0, 64),
      ...(f.status && statusPattern.test(f.status) ? { status: f.status } : {}),
      ...(f.replyCode && f.replyCode >= 200 && f.replyCode <= 599 ? { replyCode: f.replyCode } : {}),
      ...(diagnostic ? { diagnostic } : {}),
      suppressed: suppress !== undefined,
      source: where.source,
    },
  };
  return {
    ...(suppress ? { suppress: { reason: suppress } } : {}),
    record: { kind: 'bounce', severity: f.severity, reason: f.reason, eventId },
    events: [event],
  };
}

/** A feedback-loop complaint: the address is suppressed, and it counts against the account. */
export function decideComplaint(recipient: string, m: MatchedMessage, where: Where, complaint: { feedbackType: string; userAgent?: string | undefined }): Decision {
  const eventId = derivedId('evt', where.reportKey, recipient, 'complained');
  const event: EmailComplained = {
    id: eventId,
    type: 'EmailComplained',
    version: 1,
    occurredAt: where.at.toISOString(),
    ...(m.accountId ? { accountId: m.accountId } : {}),
    messageId: m.messageId,
    data: {
      ...(m.campaignId ? { campaignId: m.campaignId } : {}),
      addressHash: addressHash(recipient).toString('hex'),
      feedbackType: complaint.feedbackType.slice(0, 40) || 'abuse',
      ...(complaint.userAgent ? { userAgent: complaint.userAgent.slice(0, 200) } : {}),
      source: where.source,
    },
  };
  return { suppress: { reason: 'complaint' }, record: { kind: 'complaint', severity: 'complaint', reason: 'complaint', eventId }, events: [event] };
}

/** An unsubscribe mailed to the List-Unsubscribe `mailto:` (its token named the message and address). */
export function decideMailedUnsubscribe(recipient: string, m: MatchedMessage, where: Where): Decision {
  const event: Unsubscribed = {
    id: derivedId('evt', where.reportKey, recipient, 'unsubscribed'),
    type: 'Unsubscribed',
    version: 1,
    occurredAt: where.at.toISOString(),
    ...(m.accountId ? { accountId: m.accountId } : {}),
    messageId: m.messageId,
    data: { ...(m.campaignId ? { campaignId: m.campaignId } : {}), addressHash: addressHash(recipient).toString('hex'), method: 'mailto' },
  };
  return { suppress: { reason: 'unsubscribed' }, events: [event] };
}

/**
 * The AddressSuppressed event of a new suppression row: its id and time come from the row
 * (`suppressionEventId` in packages/contracts), as every writer of the list names it.
 */
export function suppressedEvent(row: { hashHex: string; createdAtMicros: number }, reason: string, source: string, accountId: string | null, messageId: string): AddressSuppressed {
  return {
    id: suppressionEventId(row.hashHex, row.createdAtMicros),
    type: 'AddressSuppressed',
    version: 1,
    occurredAt: new Date(Math.floor(row.createdAtMicros / 1000)).toISOString(),
    ...(accountId ? { accountId } : {}),
    messageId,
    data: { addressHash: row.hashHex, reason, source },
  };
}

/** Our message id in a Message-ID header (`<msg_…@domain>`), or undefined. */
export function ourMessageId(headerValue: string | undefined): string | undefined {
  const m = /\bmsg_[0-9A-HJKMNP-TV-Z]{26}\b/.exec(headerValue ?? '');
  return m?.[0];
}
