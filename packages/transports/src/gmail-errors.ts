import type { GmailCall, GmailFailureInput } from '@postbus/classify';
import { GOOGLE_TOKEN_URI } from './gmail-credentials.js';

export interface ErrorFacts {
  readonly input: GmailFailureInput;
  readonly reason: string | undefined;
}

/** What a googleapis/gaxios error says, as the classifier's plain facts. */
export function readError(err: unknown, call: GmailCall, tokenUri: string): ErrorFacts {
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    response?: { status?: unknown; headers?: unknown; data?: unknown };
    config?: { url?: unknown };
    code?: unknown;
    cause?: unknown;
  };
  const url = e.config?.url instanceof URL ? e.config.url.href : typeof e.config?.url === 'string' ? e.config.url : undefined;
  // A token exchange that googleapis ran inside an API call is still a token exchange.
  const actual: GmailCall = url === tokenUri || url === GOOGLE_TOKEN_URI ? 'token' : call;
  if (!('config' in e)) {
    // Not a gaxios error: our own stack failed, before any request went out.
    return { input: { call: actual, errorCode: 'EINTERNAL' }, reason: undefined };
  }
  const status = typeof e.response?.status === 'number' ? e.response.status : undefined;
  if (status === undefined) {
    const cause = e.cause as { name?: unknown; code?: unknown } | undefined;
    const code = typeof e.code === 'string' ? e.code : typeof cause?.code === 'string' ? cause.code : typeof cause?.name === 'string' ? cause.name : undefined;
    return { input: { call: actual, ...(code ? { errorCode: code } : {}) }, reason: undefined };
  }
  const retryAfter = headerOf(e.response?.headers, 'retry-after');
  const data = e.response?.data as { error?: unknown; error_description?: unknown } | undefined;
  const base = { call: actual, status, ...(retryAfter ? { retryAfter } : {}) };
  if (typeof data?.error === 'string') {
    const description = typeof data.error_description === 'string' ? data.error_description : undefined;
    return { input: { ...base, oauthError: data.error, ...(description ? { message: description } : {}) }, reason: data.error };
  }
  const api = (typeof data?.error === 'object' && data.error !== null ? data.error : {}) as {
    message?: unknown;
    status?: unknown;
    errors?: { reason?: unknown }[];
    details?: { reason?: unknown }[];
  };
  const reasons = [api.errors?.[0]?.reason, api.details?.find((d) => typeof d?.reason === 'string')?.reason, api.status];
  const reason = reasons.find((r): r is string => typeof r === 'string');
  const message = typeof api.message === 'string' ? api.message : undefined;
  return { input: { ...base, ...(reason ? { reason } : {}), ...(message ? { message } : {}) }, reason };
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (headers && typeof (headers as { get?: unknown }).get === 'function') return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  const v = (headers as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : undefined;
}
