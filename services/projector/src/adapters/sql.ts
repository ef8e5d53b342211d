import { sql, type SQLQuery } from '@postbus/db';
import { CANONICAL_TIME_FORMAT } from '../domain/time.js';

/** A timestamptz column read back as a canonical time, microseconds included (a JS Date would drop them). */
export function ts(column: string): SQLQuery {
  return sql`to_char(${sql.ident(column)} AT TIME ZONE 'UTC', ${CANONICAL_TIME_FORMAT})`;
}

/**
 * The first row of each key, in order: a batch may carry an event twice (a redelivery, an
 * open in two batches), and one INSERT … ON CONFLICT must not name a key twice.
 */
export function firstOfEach<T>(rows: readonly T[], key: (row: T) => string): T[] {
  const seen = new Set<string>();
  return rows.filter((r) => {
    const k = key(r);
    return !seen.has(k) && Boolean(seen.add(k));
  });
}
