const ISO = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/;

/**
 * Postgres keeps microseconds. Every projected time is cut to exactly six digits here, so a
 * value read back equals the value written and fixed-width strings compare as times: the
 * rows a replay builds in one batch equal the rows the live projector built over many.
 */
export function canonicalTime(iso: string): string {
  const m = ISO.exec(iso);
  if (!m) throw new Error(`not a UTC timestamp: ${iso.slice(0, 40)}`);
  return `${m[1]}.${(m[2] ?? '').padEnd(6, '0').slice(0, 6)}Z`;
}

/** The later of two canonical times. */
export function laterOf(a: string | null, b: string): string {
  return a !== null && a > b ? a : b;
}

/** Reads a timestamptz column back as a canonical time (see canonicalTime). */
export const CANONICAL_TIME_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"';
