import type { Classification } from './types.js';
import { verdict } from './verdict.js';

/** Which Gmail call failed: the OAuth token exchange, a send, or a read (search, get, history). */
export type GmailCall = 'token' | 'send' | 'read';

/**
 * One failed Gmail API or OAuth call, as plain facts (the transport reads them off the
 * googleapis error; nothing here depends on googleapis).
 */
export interface GmailFailureInput {
  readonly call: GmailCall;
  /** The HTTP status, when a response came back. Absent: the call failed on the network. */
  readonly status?: number;
  /** The API's error reason: `error.errors[0].reason` (rateLimitExceeded, …), else an ErrorInfo reason or `error.status`. */
  readonly reason?: string;
  /** The token endpoint's OAuth error: invalid_grant, unauthorized_client, access_denied, … */
  readonly oauthError?: string;
  /** `error.message`, or the token endpoint's `error_description`. */
  readonly message?: string;
  /** The Retry-After header as received (seconds or an HTTP date). */
  readonly retryAfter?: string;
  /**
   * With no response: the network error code (ECONNREFUSED, ECONNRESET, ETIMEDOUT, …).
   * ENOTSTARTED: we chose not to make the call (nothing left this process).
   * EINTERNAL: our own code failed before any request went out.
   */
  readonly errorCode?: string;
  /** When the failure was seen; needed to read a Retry-After given as a date. */
  readonly now?: Date;
}

const DAY_MS = 24 * 60 * 60 * 1000;

const RATE_REASONS = new Set(['ratelimitexceeded', 'userratelimitexceeded', 'rate_limit_exceeded', 'resource_exhausted', 'quotaexceeded']);
const DAILY_REASONS = new Set(['dailylimitexceeded', 'dailylimitexceededunreg']);
// Google documents the daily sending limit as a 429 "User-rate limit exceeded" ending in "(Mail sending)".
const DAILY_TEXT = /\(mail sending\)|sending limit|daily (?:user )?(?:sending )?(?:limit|quota)/;
const SCOPE_REASONS = new Set(['insufficientpermissions', 'access_token_scope_insufficient']);
const JWT_TIME = /short-lived token|reasonable timeframe|\biat\b|\bexp\b|token lifetime|clock/;

// Errors raised before any byte of the request left: it certainly did not reach Google.
const NOT_SENT = new Set([
  'ENOTSTARTED',
  'EINTERNAL',
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'EAI_FAIL',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const TIMEOUTS = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'TIMEOUTERROR', 'ABORTERROR', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
// Our own host is out of resources: no account or message is at fault.
const LOCAL = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

/**
 * Reads one failed Gmail API call (or its OAuth token exchange) into the classifier's verdict:
 * - provider rate and daily limits: account scope, retryable, no attempt used, retryAfterMs;
 * - a refused grant or credentials (invalid_grant, 401): account scope, final (suspend);
 * - our own configuration (unauthorized_client, missing delegation scope, JWT time error):
 *   platform scope from the first occurrence;
 * - 5xx and network errors before the request could arrive: message scope, retryable;
 * - a send whose connection broke once the request may have arrived: `uncertain` (look the
 *   message up in Sent before any resend);
 * - other 4xx: message scope, final.
 */
export function classifyGmailError(input: GmailFailureInput): Classification {
  if (input.status === undefined) return fromNetwork(input);
  const status = input.status;
  const reason = (input.reason ?? '').toLowerCase();
  const text = (input.message ?? '').toLowerCase();
  if (input.oauthError) return fromOAuth(input.oauthError.toLowerCase(), text, input);

  const daily = DAILY_REASONS.has(reason);
  if (status === 429 || daily || (status === 403 && RATE_REASONS.has(reason))) {
    return rateLimit(daily || DAILY_TEXT.test(text), input);
  }
  if (status === 401) return verdict('account', false, 'auth_failed');
  if (status === 403) {
    if (SCOPE_REASONS.has(reason) || /insufficient (?:authentication )?scopes?|insufficient permission/.test(text)) {
      return verdict('platform', false, 'delegation_missing');
    }
    // "Delegation denied for x": the token's user is not the mailbox asked for — our wiring.
    if (/delegation denied/.test(text)) return verdict('platform', false, 'delegation_missing');
    // The domain's admin turned off API access for this user or the whole domain.
    if (reason === 'domainpolicy') return verdict('account', false, 'policy');
    return verdict('message', false, 'policy');
  }
  if (status >= 500) return verdict('message', true, 'server_unavailable');
  if (status === 408) return verdict('message', true, 'timeout');
  // "Mail service not enabled": the user has no Gmail (licence, suspended service).
  if (reason === 'failedprecondition' || /mail service not enabled/.test(text)) return verdict('account', false, 'policy');
  if (status === 413 || /too large|exceeds? (?:the )?(?:maximum|size|limit)/.test(text)) return verdict('message', false, 'message_too_big');
  if (/recipient address required|invalid (?:to|cc|bcc) header|invalid recipient/.test(text)) return verdict('message', false, 'bad_address');
  if (/from header|send-?as|from address|not allowed to send as/.test(text)) return verdict('message', false, 'sender_rejected');
  return verdict('message', false, status === 400 ? 'bad_request' : 'unknown');
}

function fromOAuth(error: string, text: string, input: GmailFailureInput): Classification {
  if (error === 'invalid_grant') {
    // The JWT's iat/exp are outside what Google accepts: our clock, not the account.
    if (JWT_TIME.test(text)) return verdict('platform', false, 'clock_skew');
    return verdict('account', false, 'auth_failed');
  }
  // Domain-wide delegation is missing (or lacks a scope we ask for), or we ask for a bad scope.
  if (error === 'unauthorized_client' || error === 'access_denied' || error === 'invalid_scope') {
    return verdict('platform', false, 'delegation_missing');
  }
  const status = input.status ?? 0;
  if (status === 429) return rateLimit(false, input);
  if (status >= 500) return verdict('message', true, 'server_unavailable');
  // invalid_client (the service account is gone), invalid_request, …: these credentials do not work.
  return verdict('account', false, 'auth_failed');
}

function rateLimit(daily: boolean, input: GmailFailureInput): Classification {
  const after = retryAfterMs(input) ?? (daily ? DAY_MS : undefined);
  return verdict('account', true, daily ? 'provider_daily_limit' : 'provider_rate_limit', { retryAfterMs: after });
}

function fromNetwork(input: GmailFailureInput): Classification {
  const code = (input.errorCode ?? '').toUpperCase();
  if (code === 'ENOTSTARTED') return verdict('message', true, 'unknown', { consumesAttempt: false });
  // A bug or a broken install on our side: a person has to look; no account or message is at fault.
  if (code === 'EINTERNAL') return verdict('platform', false, 'unknown');
  if (LOCAL.has(code)) return verdict('platform', true, 'connection_failed');
  const timeout = TIMEOUTS.has(code);
  // A send whose request may have reached Google: it may have been sent. Never resend blindly.
  if (input.call === 'send' && !NOT_SENT.has(code)) return verdict('message', false, 'uncertain');
  return verdict('message', true, timeout || code === 'UND_ERR_CONNECT_TIMEOUT' ? 'timeout' : 'connection_failed');
}

/** Retry-After (seconds or an HTTP date), else Gmail's "Retry after <ISO time>" in the message. */
function retryAfterMs(input: GmailFailureInput): number | undefined {
  const header = input.retryAfter?.trim();
  if (header) {
    if (/^\d+$/.test(header)) return Number(header) * 1000;
    const at = Date.parse(header);
    if (!Number.isNaN(at) && input.now) return Math.max(0, at - input.now.getTime());
  }
  const m = /retry after (\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d))/i.exec(input.message ?? '');
  if (m?.[1] && input.now) {
    const at = Date.parse(m[1]);
    if (!Number.isNaN(at)) return Math.max(0, at - input.now.getTime());
  }
  return undefined;
}
