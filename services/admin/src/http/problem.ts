import { Type } from '@sinclair/typebox';
import { isPostbusError } from '@postbus/contracts';
import { isDatabaseUnavailable } from '@postbus/db';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { LIMITS } from '../deps.js';

/**
 * Every error answer is `application/problem+json` (RFC 9457) with a stable `code`: clients
 * branch on `code`, people read `title` and `detail`. The codes below are the contract.
 */
export const PROBLEM_TITLES: Readonly<Record<string, string>> = {
  invalid_request: 'The request does not match the schema',
  malformed_json: 'The body is not valid JSON',
  unsupported_media_type: 'Only application/json bodies are accepted',
  payload_too_large: 'The request or one message is too large',
  unauthorized: 'Authentication required',
  invalid_credentials: 'Wrong username or password',
  not_found: 'No such route',
  rate_limited: 'Too many requests',
  header_injection: 'A header field contains a line break or control character',
  header_not_allowed: 'Only X- headers may be set',
  invalid_address: 'An email address is not valid',
  empty_body: 'A message needs text or html',
  unknown_account: 'No such account',
  postal_address_required: 'Bulk mail needs a postal address on its account',
  invalid_message: 'A message cannot be represented as an event',
  idempotency_key_reused: 'The Idempotency-Key was used with a different body',
  idempotency_in_progress: 'A request with this Idempotency-Key is still being processed',
  account_not_found: 'No such account',
  account_exists: 'The account already exists',
  concurrent_change: 'Another change to this resource came first',
  message_not_found: 'No such message',
  lead_not_found: 'No such lead',
  lead_not_failed: 'Only a lead whose forwarding failed can be retried',
  invalid_cursor: 'Not a cursor this API returned',
  log_unavailable: 'The event log is unavailable',
  log_full: 'The event log is full',
  database_unavailable: 'The database is unavailable',
  not_ready: 'The service is not ready',
  internal_error: 'Internal error',
};

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String(),
    detail: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({}, { additionalProperties: true }))),
  },
  { description: 'RFC 9457 problem details with a stable `code`' },
);

/** One entry of a fastify (ajv) validation error. */
export interface SchemaIssue {
  keyword?: string;
  instancePath?: string;
  schemaPath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

function describeIssue(v: SchemaIssue): string {
  const extra = v.params?.['additionalProperty'];
  const message = v.message ?? 'invalid';
  return v.keyword === 'additionalProperties' && typeof extra === 'string' ? `${message}: ${JSON.stringify(extra.slice(0, 64))}` : message;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  errors?: unknown[];
}

export function problem(status: number, code: string, detail: string, errors?: unknown[]): ProblemBody {
  return {
    type: `urn:postbus:problem:${code}`,
    title: PROBLEM_TITLES[code] ?? 'Error',
    status,
    code,
    detail,
    ...(errors ? { errors } : {}),
  };
}

export function sendProblem(reply: FastifyReply, body: ProblemBody): FastifyReply {
  if (body.status === 503) reply.header('retry-after', String(LIMITS.retryAfterSeconds));
  // The first request under the key is still running (answered in a moment), or died (its key
  // is taken over once stale): either way the same request, the same key, a second later.
  if (body.code === 'idempotency_in_progress') reply.header('retry-after', '1');
  if (body.status === 401) reply.header('www-authenticate', 'Bearer realm="postbus"');
  // Sent as a string: a route's response schema must not reshape the problem.
  return reply.code(body.status).type('application/problem+json; charset=utf-8').send(JSON.stringify(body));
}

const FASTIFY_CODES: Readonly<Record<string, [number, string]>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'malformed_json'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'malformed_json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid_request'],
};

/** Maps anything thrown while handling a request to one problem. */
export function toProblem(err: unknown): ProblemBody {
  const fe = err as Partial<FastifyError> & { validation?: SchemaIssue[] };
  if (Array.isArray(fe.validation)) {
    const where = fe.validationContext ?? 'body';
    // "must match a schema in anyOf" only repeats that the errors listed with it apply.
    const useful = fe.validation.filter((v) => v.keyword !== 'anyOf');
    const issues = (useful.length > 0 ? useful : fe.validation).map((v) => ({ path: `${where}${v.instancePath ?? ''}`, message: describeIssue(v) }));
    return problem(400, 'invalid_request', issues.map((i) => `${i.path} ${i.message}`).join('; '), issues);
  }
  const mapped = typeof fe.code === 'string' ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped) return problem(mapped[0], mapped[1], fe.message ?? mapped[1]);
  if (isPostbusError(err)) {
    const errors = err.detail?.['errors'];
    // 5xx details name the failing dependency only; causes stay in the log.
    return problem(err.status, err.code, err.message, Array.isArray(errors) ? errors : undefined);
  }
  if (isDatabaseUnavailable(err)) return problem(503, 'database_unavailable', 'the database is unavailable');
  // Proto-poisoned JSON and other parser refusals carry a 4xx status and no code of ours.
  if (err instanceof SyntaxError && fe.statusCode === 400) return problem(400, 'malformed_json', 'the body is not valid JSON');
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return problem(fe.statusCode, fe.statusCode === 404 ? 'not_found' : 'invalid_request', fe.message ?? 'bad request');
  }
  return problem(500, 'internal_error', 'internal error');
}

export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const body = toProblem(err);
  if (body.status >= 500) request.log.error({ err, code: body.code }, 'request failed');
  else request.log.info({ code: body.code, status: body.status }, 'request refused');
  return sendProblem(reply, body);
}
