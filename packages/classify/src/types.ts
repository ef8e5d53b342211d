/** The SMTP step that produced the reply or error, in session order. */
export type SmtpPhase = 'connect' | 'greeting' | 'tls' | 'auth' | 'mail' | 'rcpt' | 'data' | 'message';

export interface SmtpReplyInput {
  readonly phase: SmtpPhase;
  /** The basic reply code (e.g. 550); read from the start of `response` when absent. */
  readonly replyCode?: number;
  /** RFC 3463 code (e.g. '5.1.1'); read from `response` when absent. */
  readonly enhancedCode?: string;
  /** The server's reply text, as nodemailer reports it (it usually starts with the code). */
  readonly response?: string;
  /** A node errno or nodemailer code: ECONNREFUSED, ETIMEDOUT, ECONNECTION, EAUTH, ESOCKET, … */
  readonly errorCode?: string;
}

export type Reason =
  | 'unknown_user'
  | 'unknown_domain'
  | 'mailbox_full'
  | 'message_too_big'
  | 'spam_blocked'
  | 'policy'
  | 'rate_limited'
  | 'auth_failed'
  | 'auth_required'
  | 'relay_denied'
  | 'sender_rejected'
  | 'greylisted'
  | 'temporary'
  | 'server_unavailable'
  | 'connection_failed'
  | 'tls_failed'
  | 'timeout'
  | 'bad_address'
  | 'content_rejected'
  // Gmail API (classifyGmailError).
  | 'provider_rate_limit'
  | 'provider_daily_limit'
  | 'delegation_missing'
  | 'clock_skew'
  | 'bad_request'
  | 'uncertain'
  | 'unknown';

export const REASONS: readonly Reason[] = [
  'unknown_user',
  'unknown_domain',
  'mailbox_full',
  'message_too_big',
  'spam_blocked',
  'policy',
  'rate_limited',
  'auth_failed',
  'auth_required',
  'relay_denied',
  'sender_rejected',
  'greylisted',
  'temporary',
  'server_unavailable',
  'connection_failed',
  'tls_failed',
  'timeout',
  'bad_address',
  'content_rejected',
  'provider_rate_limit',
  'provider_daily_limit',
  'delegation_missing',
  'clock_skew',
  'bad_request',
  'uncertain',
  'unknown',
];

/**
 * Who is at fault and whether a later attempt can succeed:
 * - message: this message/recipient only (fail it, or retry it on the message's schedule);
 * - account: the sending account (pause it when retryable, suspend when not; message attempts
 *   are not consumed);
 * - platform: our own configuration (alert a person, suspend nothing).
 */
export type ClassificationScope = 'message' | 'account' | 'platform';

export interface Classification {
  readonly scope: ClassificationScope;
  readonly retryable: boolean;
  readonly reason: Reason;
  /** True only when the address is dead (unknown user or domain): suppress it. */
  readonly hard: boolean;
  /**
   * Whether the failure uses up one of the message's attempts. Every classifier sets it (true
   * for message scope, false for account and platform scope and for the uncertain window);
   * optional only so hand-written literals stay valid — read it with `consumesAttempt()`.
   */
  readonly consumesAttempt?: boolean;
  /** How long the provider asked us to wait (Retry-After, or its documented default), when known. */
  readonly retryAfterMs?: number;
}

export interface EnhancedCode {
  /** Canonical text, e.g. '5.1.1'. */
  readonly code: string;
  readonly class: 2 | 4 | 5;
  readonly subject: number;
  readonly detail: number;
}
