import { PostbusError } from '@postbus/contracts';

/** A page cursor of the lists that page by (time, key): where the previous page ended. */
export interface PageCursor {
  readonly at: string;
  readonly id: string;
}

/** The `next` a page returns: its last row's time and key, opaque to the client. */
export function encodeCursor(at: string, id: string): string {
  return Buffer.from(`${at}|${id}`).toString('base64url');
}

/**
 * The `after` a client sent back, checked against the list's own shape (`pattern`: the time in
 * its first group, the key in its second); anything else is a 400 `invalid_cursor`.
 */
export function decodeCursor(after: string, pattern: RegExp): PageCursor {
  const m = pattern.exec(Buffer.from(after, 'base64url').toString('utf8'));
  if (!m) throw new PostbusError('invalid_cursor', 'after: not a cursor this API returned', { status: 400 });
  return { at: m[1]!, id: m[2]! };
}
