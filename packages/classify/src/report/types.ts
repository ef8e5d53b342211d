export type ReportKind = 'bounce' | 'delay' | 'complaint' | 'unsubscribe' | 'auto_reply' | 'unknown';

export type ReportReason =
  | 'unknown_user'
  | 'unknown_domain'
  | 'mailbox_disabled'
  | 'mailbox_full'
  | 'expired'
  | 'message_too_big'
  | 'spam_blocked'
  | 'reputation_blocked'
  | 'policy'
  | 'auth_failed'
  | 'rate_limited'
  | 'temporary'
  | 'complained'
  | 'unsubscribed'
  | 'unknown';

export const REPORT_REASONS: readonly ReportReason[] = [
  'unknown_user',
  'unknown_domain',
  'mailbox_disabled',
  'mailbox_full',
  'expired',
  'message_too_big',
  'spam_blocked',
  'reputation_blocked',
  'policy',
  'auth_failed',
  'rate_limited',
  'temporary',
  'complained',
  'unsubscribed',
  'unknown',
];

/**
 * - hard: the address is dead (unknown user or domain, mailbox disabled): suppress it;
 * - soft: may succeed later (full mailbox, expiry, 4xx, anything unclear);
 * - sender: says something about the sender or the message (policy, spam, reputation,
 *   SPF/DKIM/DMARC, rate, size), not about the address — watched per account. Complaints and
 *   unsubscribe requests are 'sender' too (the address works; its owner wants no more mail),
 *   and they are the only 'sender' verdicts that suppress.
 */
export type BounceSeverity = 'hard' | 'soft' | 'sender';

export interface BounceInput {
  /** RFC 3463 code from the DSN's Status field, e.g. '5.1.1'. */
  readonly status?: string;
  readonly replyCode?: number;
  /** The remote server's text (Diagnostic-Code without its type, or a quoted reply). */
  readonly diagnostic?: string;
}

export interface BounceVerdict {
  readonly reason: ReportReason;
  readonly severity: BounceSeverity;
  /** True for a dead address (severity 'hard') and for a complaint or unsubscribe request. */
  readonly suppress: boolean;
}

export interface RecipientReport extends BounceVerdict {
  /** Lower-cased address, without 'rfc822;' or angle brackets. */
  readonly recipient: string;
  readonly action?: string;
  readonly status?: string;
  readonly replyCode?: number;
  /** Capped at DIAGNOSTIC_MAX characters. */
  readonly diagnostic?: string;
  readonly remoteMta?: string;
}

export interface ComplaintReport {
  readonly feedbackType: string;
  readonly userAgent?: string;
  readonly originalRecipient?: string;
  readonly arrivalDate?: string;
  readonly sourceIp?: string;
}

export interface OriginalMessage {
  /** Without angle brackets. */
  readonly messageId?: string;
  /** Headers of the returned original (first occurrence of each), lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
}

export interface ParsedReport {
  readonly kind: ReportKind;
  /** One per failed (or delayed, or complaining) recipient found. */
  readonly recipients: readonly RecipientReport[];
  readonly original: OriginalMessage;
  readonly complaint?: ComplaintReport;
  readonly reportingMta?: string;
  /** The report mail's own top-level header fields (lower-case names, first occurrence, unfolded). */
  readonly headers: Readonly<Record<string, string>>;
  /** The input or its structure went past a limit and was cut. */
  readonly truncated: boolean;
}

/** Thrown by parseReport for empty input or input with no mail header at all; nothing else throws. */
export class ReportParseError extends Error {
  readonly code = 'REPORT_NOT_MAIL';
  readonly scope = 'message';
  readonly retryable = false;
  constructor(message: string) {
    super(message);
    this.name = 'ReportParseError';
  }
}
