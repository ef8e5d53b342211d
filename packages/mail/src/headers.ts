import { ValidationError } from '@postbus/contracts';

/**
 * Header values: control characters are refused (header injection), non-ASCII text becomes
 * RFC 2047 encoded words, and long values are folded to 78 columns.
 */
const MAX_LINE = 78;
// A word of 68 columns fits after "Subject: " within 78.
const MAX_WORD = 68;
const WORD_OVERHEAD = '=?UTF-8?B??='.length;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
const PRINTABLE = /^[\x20-\x7e\t]*$/;
// RFC 5322 atext plus space: a display name of only these needs no quoting.
const ATOM_PHRASE = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/;
const X_HEADER = /^X-[!-9;-~]{1,62}$/i;
// RFC 2047 section 5(3): characters that may stand for themselves in a Q word inside a phrase.
const Q_SAFE = /^[A-Za-z0-9!*+\-/]$/;

export function headerInjection(header: string, problem: string): ValidationError {
  return new ValidationError('header_injection', `header ${JSON.stringify(header.slice(0, 64))}: ${problem}`, {
    header: header.slice(0, 64),
    problem,
  });
}

/** Refuses CR, LF and other control characters (tab allowed) without echoing the value. */
export function assertHeaderValue(header: string, value: string): void {
  if (CONTROL.test(value)) throw headerInjection(header, 'value contains control characters');
}

export function assertExtraHeaderName(name: string): void {
  if (CONTROL.test(name)) throw headerInjection(name, 'name contains control characters');
  if (!X_HEADER.test(name)) throw headerInjection(name, 'only X- headers may be added');
}

/** One complete header field, folded, ending in CRLF. */
export function unstructuredHeader(name: string, value: string): string {
  assertHeaderValue(name, value);
  const prefix = `${name}: `;
  if (PRINTABLE.test(value) && !value.includes('=?')) {
    const folded = foldAscii(prefix, value);
    if (folded !== undefined) return `${folded}\r\n`;
  }
  const firstWidth = Math.max(MAX_LINE - prefix.length, 24);
  return `${prefix}${encodeWords(value, firstWidth).join('\r\n ')}\r\n`;
}

/** Folds before spaces; undefined when some word cannot fit a line (then it gets encoded). */
function foldAscii(prefix: string, value: string): string | undefined {
  if (prefix.length + value.length <= MAX_LINE) return prefix + value;
  const words = value.split(' ');
  const lines: string[] = [];
  let line = prefix + (words[0] as string);
  for (let i = 1; i < words.length; i++) {
    const word = words[i] as string;
    // Never break before an empty word: that would leave a line of only whitespace.
    if (word.length > 0 && line.length + 1 + word.length > MAX_LINE && line.trim().length > prefix.trim().length) {
      lines.push(line);
      line = ` ${word}`;
    } else {
      line += ` ${word}`;
    }
  }
  lines.push(line);
  return lines.every((l) => l.length <= MAX_LINE) ? lines.join('\r\n') : undefined;
}

/**
 * RFC 2047 encoded words for `text`, B or Q, whichever is shorter. Words split only between
 * code points, so no word holds half a UTF-8 sequence.
 */
export function encodeWords(text: string, firstWidth: number = MAX_WORD): string[] {
  const bytes = Buffer.byteLength(text, 'utf8');
  let qLength = 0;
  for (const ch of text) qLength += qEncodeChar(ch).length;
  const useQ = qLength <= Math.ceil(bytes / 3) * 4;
  const words: string[] = [];
  let chunk = '';
  let chunkLen = 0;
  let width = Math.min(firstWidth, MAX_WORD) - WORD_OVERHEAD;
  for (const ch of text) {
    const piece = useQ ? qEncodeChar(ch) : ch;
    const pieceLen = useQ ? piece.length : Buffer.byteLength(ch, 'utf8');
    const after = useQ ? chunkLen + pieceLen : Math.ceil((chunkLen + pieceLen) / 3) * 4;
    if (after > width && chunk.length > 0) {
      words.push(wordOf(chunk, useQ));
      chunk = '';
      chunkLen = 0;
      width = MAX_WORD - WORD_OVERHEAD;
    }
    chunk += piece;
    chunkLen += pieceLen;
  }
  if (chunk.length > 0 || words.length === 0) words.push(wordOf(chunk, useQ));
  return words;
}

function wordOf(chunk: string, q: boolean): string {
  return q ? `=?UTF-8?Q?${chunk}?=` : `=?UTF-8?B?${Buffer.from(chunk, 'utf8').toString('base64')}?=`;
}

function qEncodeChar(ch: string): string {
  if (ch === ' ') return '_';
  if (Q_SAFE.test(ch)) return ch;
  let out = '';
  for (const b of Buffer.from(ch, 'utf8')) out += `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** `Name <address>`, the name as-is, quoted or encoded; `address` must already be valid. */
export function mailboxHeader(header: string, address: string, name?: string | null): string {
  const prefix = `${header}: `;
  if (name === undefined || name === null || name.trim() === '') return `${prefix}${address}\r\n`;
  assertHeaderValue(header, name);
  const angle = `<${address}>`;
  let phrase: string;
  if (PRINTABLE.test(name) && !name.includes('=?') && name.length <= 60) {
    phrase = ATOM_PHRASE.test(name) ? name.trim() : `"${name.replace(/[\\"]/g, '\\$&')}"`;
  } else {
    phrase = encodeWords(name, MAX_LINE - prefix.length).join('\r\n ');
  }
  const nl = phrase.lastIndexOf('\n');
  const lastLine = nl < 0 ? prefix + phrase : phrase.slice(nl + 1);
  const sep = lastLine.length + 1 + angle.length > MAX_LINE ? '\r\n ' : ' ';
  return `${prefix}${phrase}${sep}${angle}\r\n`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 5322 date-time in UTC, e.g. `Tue, 05 Mar 2024 09:04:05 +0000`. */
export function formatDate(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new ValidationError('invalid_date', 'date is not a valid Date');
  const p = (n: number): string => String(n).padStart(2, '0');
  return (
    `${DAYS[date.getUTCDay()] as string}, ${p(date.getUTCDate())} ${MONTHS[date.getUTCMonth()] as string} ` +
    `${date.getUTCFullYear()} ${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} +0000`
  );
}

const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** `<id@domain>`: derived from our message id so every retry of one message carries the same one. */
export function formatMessageId(messageId: string, domain: string): string {
  assertHeaderValue('Message-ID', messageId);
  assertHeaderValue('Message-ID', domain);
  if (!DOT_ATOM.test(messageId) || messageId.length > 128) {
    throw new ValidationError('invalid_message_id', 'message id must be a dot-atom of at most 128 characters');
  }
  if (!HOSTNAME.test(domain) || domain.length > 253) {
    throw new ValidationError('invalid_message_id', 'message id domain must be a host name');
  }
  return `<${messageId}@${domain.toLowerCase()}>`;
}
