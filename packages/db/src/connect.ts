import pg, { type ConnectionPool } from '@databases/pg';
import { InfrastructureError } from '@postbus/contracts';

export type Database = ConnectionPool;

export interface DatabaseOptions {
  readonly url: string;
  readonly poolSize?: number;
  readonly applicationName?: string;
  readonly onError?: (err: Error) => void;
}

export function connectDatabase(opts: DatabaseOptions): Database {
  // @databases/pg is CommonJS: under NodeNext its default import is module.exports.
  return pg.default({
    connectionString: opts.url,
    bigIntMode: 'number',
    poolSize: opts.poolSize ?? 10,
    applicationName: opts.applicationName ?? 'postbus',
    connectionTimeoutMilliseconds: 5_000,
    queueTimeoutMilliseconds: 30_000,
    idleInTransactionSessionTimeoutMilliseconds: 60_000,
    keepAlive: true,
    onError: opts.onError ?? (() => {}),
  });
}

// SQLSTATE classes that mean "the database is away or overloaded", not "the query is wrong".
const INFRA_SQLSTATE = /^(08|53|57P0[1-4]|58)/;
const INFRA_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);

/** True when the error says Postgres is unreachable: the work should wait, not fail. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e) return false;
  if (typeof e.code === 'string' && (INFRA_SQLSTATE.test(e.code) || INFRA_ERRNO.has(e.code))) return true;
  const msg = typeof e.message === 'string' ? e.message : '';
  return /Connection terminated|connection timeout|timed out|Client has encountered a connection error|not queryable|Timed out waiting for a connection/i.test(msg);
}

/** Wraps connection-level failures in InfrastructureError; other errors pass through. */
export async function withDatabase<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isDatabaseUnavailable(err)) throw new InfrastructureError('database_unavailable', 'database unavailable', err);
    throw err;
  }
}
