import { describe, expect, it } from 'vitest';
import { REASONS, classifyGmailError, classifySmtpReply, consumesAttempt, type Classification, type GmailFailureInput } from './index.js';

const now = new Date('2025-03-01T12:00:00.000Z');
const send = (status: number, reason: string, message: string, extra: Partial<GmailFailureInput> = {}): GmailFailureInput => ({
  call: 'send',
  status,
  reason,
  message,
  now,
  ...extra,
});
const token = (status: number, oauthError: string, message: string): GmailFailureInput => ({ call: 'token', status, oauthError, message, now });
const network = (call: GmailFailureInput['call'], errorCode: string): GmailFailureInput => ({ call, errorCode, now });

// expected: '<scope> <retry|final> <reason> <consumes|free>[ after=<ms>]'
type Row = [name: string, input: GmailFailureInput, expected: string];

const MIN = 60_000;
const DAY = 24 * 60 * MIN;

const table: Row[] = [
  // Provider limits: the account pauses, the message keeps its attempts.
  ['429 user-rate limit with Retry-After', send(429, 'rateLimitExceeded', 'User-rate limit exceeded.', { retryAfter: '37' }), 'account retry provider_rate_limit free after=37000'],
  ['429 with "Retry after <time>" in the message', send(429, 'rateLimitExceeded', 'User-rate limit exceeded.  Retry after 2025-03-01T12:02:00.000Z'), `account retry provider_rate_limit free after=${2 * MIN}`],
  ['429 with nothing to go by', send(429, 'rateLimitExceeded', 'Rate Limit Exceeded'), 'account retry provider_rate_limit free'],
  ['429 Retry-After as an HTTP date', send(429, 'rateLimitExceeded', 'Too many', { retryAfter: 'Sat, 01 Mar 2025 12:00:30 GMT' }), 'account retry provider_rate_limit free after=30000'],
  ['403 rateLimitExceeded', send(403, 'rateLimitExceeded', 'Rate Limit Exceeded'), 'account retry provider_rate_limit free'],
  ['403 userRateLimitExceeded', send(403, 'userRateLimitExceeded', 'User Rate Limit Exceeded'), 'account retry provider_rate_limit free'],
  ['403 dailyLimitExceeded', send(403, 'dailyLimitExceeded', 'Daily Limit Exceeded'), `account retry provider_daily_limit free after=${DAY}`],
  ['403 dailyLimitExceeded with Retry-After', send(403, 'dailyLimitExceeded', 'Daily Limit Exceeded', { retryAfter: '3600' }), 'account retry provider_daily_limit free after=3600000'],
  ['429 mail sending limit', send(429, 'rateLimitExceeded', 'User-rate limit exceeded.  Retry after 2025-03-02T08:00:00.000Z (Mail sending)'), `account retry provider_daily_limit free after=${20 * 60 * MIN}`],
  ['429 mail sending limit, no time given', send(429, 'rateLimitExceeded', 'User-rate limit exceeded (Mail sending)'), `account retry provider_daily_limit free after=${DAY}`],
  ['429 at the token endpoint', { call: 'token', status: 429, message: 'Too many requests' }, 'account retry provider_rate_limit free'],
  // The account's credentials.
  ['token: unknown or deleted user', token(400, 'invalid_grant', 'Invalid email or User ID'), 'account final auth_failed free'],
  ['token: key deleted', token(400, 'invalid_grant', 'Invalid JWT Signature.'), 'account final auth_failed free'],
  ['token: service account gone', token(401, 'invalid_client', 'The OAuth client was not found.'), 'account final auth_failed free'],
  ['API 401 invalid credentials', send(401, 'authError', 'Request had invalid authentication credentials.'), 'account final auth_failed free'],
  ['403 domain policy', send(403, 'domainPolicy', 'The domain administrators have disabled Gmail apps.'), 'account final policy free'],
  ['400 mail service not enabled', send(400, 'failedPrecondition', 'Mail service not enabled'), 'account final policy free'],
  // Our configuration: alert a person, suspend nothing.
  ['token: delegation missing', token(401, 'unauthorized_client', 'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.'), 'platform final delegation_missing free'],
  ['token: access denied', token(403, 'access_denied', 'Requested client not authorized.'), 'platform final delegation_missing free'],
  ['token: invalid scope', token(400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.'), 'platform final delegation_missing free'],
  ['token: JWT time error', token(400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.'), 'platform final clock_skew free'],
  ['403 insufficient scopes', send(403, 'insufficientPermissions', 'Request had insufficient authentication scopes.'), 'platform final delegation_missing free'],
  ['403 scope ErrorInfo only', send(403, 'ACCESS_TOKEN_SCOPE_INSUFFICIENT', 'Request had insufficient authentication scopes.'), 'platform final delegation_missing free'],
  ['403 delegation denied', send(403, 'forbidden', 'Delegation denied for bob@example.com'), 'platform final delegation_missing free'],
  // Transient: retry the message on its schedule.
  ['500 backend error', send(500, 'backendError', 'Backend Error'), 'message retry server_unavailable consumes'],
  ['503 unavailable', send(503, 'backendError', 'The service is currently unavailable.'), 'message retry server_unavailable consumes'],
  ['token 503', { call: 'token', status: 503, message: 'Service Unavailable' }, 'message retry server_unavailable consumes'],
  ['refused before sending', network('send', 'ECONNREFUSED'), 'message retry connection_failed consumes'],
  ['dns failure before sending', network('send', 'ENOTFOUND'), 'message retry connection_failed consumes'],
  ['token endpoint reset', network('token', 'ECONNRESET'), 'message retry connection_failed consumes'],
  ['search timed out', network('read', 'ETIMEDOUT'), 'message retry timeout consumes'],
  ['out of file descriptors', network('send', 'EMFILE'), 'platform retry connection_failed free'],
  ['not started (lease ran out)', network('send', 'ENOTSTARTED'), 'message retry unknown free'],
  ['our own code failed before the request', network('send', 'EINTERNAL'), 'platform final unknown free'],
  // The uncertain window: the request may have arrived.
  ['send reset after the request went out', network('send', 'ECONNRESET'), 'message final uncertain free'],
  ['send timed out waiting for the answer', network('send', 'ETIMEDOUT'), 'message final uncertain free'],
  ['send aborted', network('send', 'AbortError'), 'message final uncertain free'],
  ['send failed with no code at all', { call: 'send', now }, 'message final uncertain free'],
  // The message itself.
  ['400 invalid raw', send(400, 'invalidArgument', 'Invalid value for ByteString: abc+/'), 'message final bad_request consumes'],
  ['400 no recipient', send(400, 'invalidArgument', 'Recipient address required'), 'message final bad_address consumes'],
  ['400 From not allowed', send(400, 'invalidArgument', 'Invalid From header: not a send-as address of this user'), 'message final sender_rejected consumes'],
  ['413 too large', send(413, 'uploadTooLarge', 'Request payload size exceeds the limit'), 'message final message_too_big consumes'],
  ['404 on send', send(404, 'notFound', 'Requested entity was not found.'), 'message final unknown consumes'],
  ['403 unrecognised', send(403, 'forbidden', 'Forbidden'), 'message final policy consumes'],
];

function show(c: Classification): string {
  const after = c.retryAfterMs === undefined ? '' : ` after=${c.retryAfterMs}`;
  return `${c.scope} ${c.retryable ? 'retry' : 'final'} ${c.reason} ${consumesAttempt(c) ? 'consumes' : 'free'}${after}`;
}

describe('classifyGmailError', () => {
  it.each(table)('%s', (_name, input, expected) => {
    const c = classifyGmailError(input);
    expect(show(c)).toBe(expected);
    expect(REASONS).toContain(c.reason);
    expect(c.hard).toBe(false);
    expect(c.consumesAttempt).toBe(consumesAttempt(c));
  });

  it('never lets a provider limit consume an attempt or suspend the account', () => {
    for (const [, input] of table) {
      const c = classifyGmailError(input);
      if (c.reason === 'provider_rate_limit' || c.reason === 'provider_daily_limit') {
        expect(c).toMatchObject({ scope: 'account', retryable: true, consumesAttempt: false });
      }
    }
  });

  it('ignores a Retry-After date when it cannot tell the time', () => {
    const c = classifyGmailError({ call: 'send', status: 429, reason: 'rateLimitExceeded', message: 'Retry after 2025-03-01T12:02:00Z' });
    expect(c.retryAfterMs).toBeUndefined();
  });

  it('never reports a negative wait', () => {
    const c = classifyGmailError(send(429, 'rateLimitExceeded', 'x', { retryAfter: 'Sat, 01 Mar 2025 11:00:00 GMT' }));
    expect(c.retryAfterMs).toBe(0);
  });
});

describe('consumesAttempt on SMTP verdicts', () => {
  it('is set by the SMTP classifier too: message scope consumes, account scope does not', () => {
    expect(classifySmtpReply({ phase: 'rcpt', response: '451 4.7.1 greylisted, try again later' }).consumesAttempt).toBe(true);
    expect(classifySmtpReply({ phase: 'connect', errorCode: 'ECONNREFUSED' }).consumesAttempt).toBe(false);
  });

  it('falls back to the scope for hand-written classifications', () => {
    expect(consumesAttempt({ scope: 'message', retryable: true, reason: 'temporary', hard: false })).toBe(true);
    expect(consumesAttempt({ scope: 'account', retryable: true, reason: 'rate_limited', hard: false })).toBe(false);
  });
});
