/** The calls the stand-in answers, as failures can be aimed at them. */
export type GmailStandinCall = 'token' | 'send' | 'list' | 'get' | 'history' | 'profile';

/**
 * Failures to inject with `standin.failNext(user, kind)`. Token kinds answer the next token
 * exchange for that user; the others the next API call (by default a send).
 */
export type GmailFailureKind =
  /** 429 rateLimitExceeded "User-rate limit exceeded. Retry after …", with Retry-After. */
  | 'rate-limit-429'
  /** 403 rateLimitExceeded (usageLimits). */
  | 'rate-limit-403'
  /** 403 userRateLimitExceeded (usageLimits). */
  | 'user-rate-limit-403'
  /** 403 dailyLimitExceeded (usageLimits), no Retry-After. */
  | 'daily-limit-403'
  /** 429 "User-rate limit exceeded. Retry after <tomorrow> (Mail sending)": the daily sending limit. */
  | 'mail-sending-limit-429'
  /** 401 authError "Invalid Credentials" from the API. */
  | 'auth-error-401'
  /** 403 insufficientPermissions from the API. */
  | 'insufficient-scope-403'
  /** Token endpoint: 400 invalid_grant "Invalid email or User ID". */
  | 'invalid-grant'
  /** Token endpoint: 400 invalid_grant "Invalid JWT: Token must be a short-lived token …". */
  | 'invalid-jwt-time'
  /** Token endpoint: 401 unauthorized_client (domain-wide delegation missing). */
  | 'unauthorized-client'
  | 'backend-error-500'
  | 'unavailable-503'
  /** 400 invalidArgument. */
  | 'bad-request-400'
  /** The request arrives, nothing is done, the connection closes without an answer. */
  | 'drop-before-store'
  /** Send only: the message is stored (it was sent), then the connection closes without an answer. */
  | 'drop-after-store';

export const TOKEN_KINDS: ReadonlySet<GmailFailureKind> = new Set(['invalid-grant', 'invalid-jwt-time', 'unauthorized-client']);

export interface StandinReply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

/** Google's JSON error shape: `{ error: { code, message, errors: [{ domain, reason, message }], status } }`. */
export function apiError(
  code: number,
  reason: string,
  message: string,
  opts: { domain?: string; headers?: Record<string, string>; extra?: Record<string, unknown> } = {},
): StandinReply {
  const detail = { message, domain: opts.domain ?? 'global', reason, ...opts.extra };
  return {
    status: code,
    body: { error: { code, message, errors: [detail], status: STATUS_NAMES[code] ?? 'UNKNOWN' } },
    ...(opts.headers ? { headers: opts.headers } : {}),
  };
}

/** The token endpoint's OAuth error shape: `{ error, error_description }`. */
export function oauthError(status: number, error: string, description: string): StandinReply {
  return { status, body: { error, error_description: description } };
}

export const INVALID_CREDENTIALS = (): StandinReply =>
  apiError(
    401,
    'authError',
    'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
    { extra: { location: 'Authorization', locationType: 'header' }, headers: { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' } },
  );

export const INSUFFICIENT_SCOPES = (): StandinReply =>
  apiError(403, 'insufficientPermissions', 'Request had insufficient authentication scopes.', {
    headers: { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="insufficient_scope"' },
  });

export const NOT_FOUND = (): StandinReply => apiError(404, 'notFound', 'Requested entity was not found.');

export const JWT_TIME_ERROR =
  'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.';
export const UNAUTHORIZED_CLIENT =
  'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.';

/** Rate limit answers: Gmail puts the time to retry in the message; the 429s carry Retry-After too. */
export function rateLimited(retryAt: number, now: number, mailSending = false): StandinReply {
  const seconds = Math.max(1, Math.ceil((retryAt - now) / 1000));
  const suffix = mailSending ? ' (Mail sending)' : '';
  return apiError(429, 'rateLimitExceeded', `User-rate limit exceeded.  Retry after ${new Date(retryAt).toISOString()}${suffix}`, {
    domain: 'usageLimits',
    headers: { 'retry-after': String(seconds) },
  });
}

/** The answer for an injected failure ('drop-*' kinds are handled by the server: no answer). */
export function injectedReply(kind: GmailFailureKind, now: number, retryAfterSeconds: number): StandinReply {
  switch (kind) {
    case 'rate-limit-429':
      return rateLimited(now + retryAfterSeconds * 1000, now);
    case 'mail-sending-limit-429':
      return rateLimited(now + 24 * 3600 * 1000, now, true);
    case 'rate-limit-403':
      return apiError(403, 'rateLimitExceeded', 'Rate Limit Exceeded', { domain: 'usageLimits' });
    case 'user-rate-limit-403':
      return apiError(403, 'userRateLimitExceeded', 'User Rate Limit Exceeded', { domain: 'usageLimits' });
    case 'daily-limit-403':
      return apiError(403, 'dailyLimitExceeded', 'Daily Limit Exceeded', { domain: 'usageLimits' });
    case 'auth-error-401':
      return INVALID_CREDENTIALS();
    case 'insufficient-scope-403':
      return INSUFFICIENT_SCOPES();
    case 'invalid-grant':
      return oauthError(400, 'invalid_grant', 'Invalid email or User ID');
    case 'invalid-jwt-time':
      return oauthError(400, 'invalid_grant', JWT_TIME_ERROR);
    case 'unauthorized-client':
      return oauthError(401, 'unauthorized_client', UNAUTHORIZED_CLIENT);
    case 'backend-error-500':
      return apiError(500, 'backendError', 'Backend Error');
    case 'unavailable-503':
      return apiError(503, 'backendError', 'The service is currently unavailable.');
    case 'bad-request-400':
      return apiError(400, 'invalidArgument', 'Invalid argument');
    case 'drop-before-store':
    case 'drop-after-store':
      throw new Error(`${kind} has no answer`);
    default: {
      const never: never = kind;
      throw new Error(`unknown failure kind ${String(never)}`);
    }
  }
}
