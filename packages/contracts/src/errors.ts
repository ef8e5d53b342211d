/**
 * One error vocabulary for every package and service. A scope says who is at fault
 * (one message, one account, the platform or the infrastructure under us) and
 * `retryable` whether trying again later can succeed; consumer loops turn these two
 * properties into ack, leave-for-redelivery, a scheduled retry or term.
 */
export type ErrorScope = 'message' | 'account' | 'platform' | 'infrastructure' | 'input';

export interface PostbusErrorOptions {
  readonly scope?: ErrorScope;
  readonly retryable?: boolean;
  readonly status?: number;
  readonly cause?: unknown;
  readonly detail?: Readonly<Record<string, unknown>>;
}

export class PostbusError extends Error {
  readonly code: string;
  readonly scope: ErrorScope;
  readonly retryable: boolean;
  /** HTTP status when surfaced through an API. */
  readonly status: number;
  readonly detail: Readonly<Record<string, unknown>> | undefined;

  constructor(code: string, message: string, options: PostbusErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PostbusError';
    this.code = code;
    this.scope = options.scope ?? 'input';
    this.retryable = options.retryable ?? false;
    this.status = options.status ?? 400;
    this.detail = options.detail;
  }
}

/** Postgres or NATS is away: leave the work for redelivery, answer 503. */
export class InfrastructureError extends PostbusError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { scope: 'infrastructure', retryable: true, status: 503, cause });
    this.name = 'InfrastructureError';
  }
}

/** Input that can never become valid: a schema violation, a bad address, CRLF in a header. */
export class ValidationError extends PostbusError {
  constructor(code: string, message: string, detail?: Record<string, unknown>) {
    super(code, message, { scope: 'input', retryable: false, status: 422, ...(detail ? { detail } : {}) });
    this.name = 'ValidationError';
  }
}

export function isPostbusError(err: unknown): err is PostbusError {
  return err instanceof PostbusError;
}
