import { sql, type SQLQuery } from '@postbus/db';
import { CANONICAL_TIME_FORMAT } from '../domain/time.js';

/** A timestamptz column read back as a canonical time, microseconds included (a JS Date would drop them). */
export function ts(column: string): SQLQuery {
  return sql`to_char(${sql.ident(column)} AT TIME ZONE 'UTC', ${CANONICAL_TIME_FORMAT})`;
}
