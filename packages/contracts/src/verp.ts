/**
 * VERP return paths: `local+pb-<message id body, lower case>@domain`. The id is Crockford
 * base32, so a server that lower-cases local parts loses nothing. Servers deliver the bounce to
 * `local@domain` (plus-addressing), where the bounce processor reads it and finds the message
 * in the address the bounce was sent to.
 */
const LOCAL_MAX = 64;
const TAG = 'pb-';

/** The VERP envelope sender for a message, or the plain address when the local part would be too long. */
export function verpAddress(fromAddress: string, messageId: string): string {
  const at = fromAddress.lastIndexOf('@');
  const m = /^msg_([0-9A-HJKMNP-TV-Z]{26})$/.exec(messageId);
  if (at <= 0 || !m) return fromAddress;
  const local = `${fromAddress.slice(0, at)}+${TAG}${m[1]!.toLowerCase()}`;
  return local.length > LOCAL_MAX ? fromAddress : `${local}${fromAddress.slice(at)}`;
}

const IN_ADDRESS = /\+pb-([0-9a-hjkmnp-tv-z]{26})@/i;

/** The message id a VERP address (or a header holding one) names, or undefined. */
export function verpMessageId(value: string | undefined): string | undefined {
  const m = IN_ADDRESS.exec(value ?? '');
  return m ? `msg_${m[1]!.toUpperCase()}` : undefined;
}
