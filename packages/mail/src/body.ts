/**
 * Body transfer encodings. Output lines end in CRLF and never exceed 76 characters, so SMTP's
 * 998-octet limit is never in play, whatever the input's line lengths.
 */
export type TransferEncoding = 'quoted-printable' | 'base64';

const MAX_LINE = 76;
const NEWLINE = /\r\n|\r|\n/;
const HEX: readonly string[] = Array.from({ length: 256 }, (_, b) => `=${b.toString(16).toUpperCase().padStart(2, '0')}`);
// Printable ASCII without '=': such a line needs no escaping at all.
const PLAIN_LINE = /^[\x20-\x3c\x3e-\x7e]*$/;

/**
 * Quoted-printable unless most of the text is non-ASCII (Cyrillic, CJK, …), where QP would
 * triple its size and base64 costs a third. Decided from lengths, without scanning characters.
 */
export function chooseTransferEncoding(text: string): TransferEncoding {
  const bytes = Buffer.byteLength(text, 'utf8');
  const extra = bytes - text.length;
  return extra * 3 > bytes ? 'base64' : 'quoted-printable';
}

export function encodeBody(text: string, encoding: TransferEncoding): string {
  return encoding === 'base64' ? encodeBase64(text) : encodeQuotedPrintable(text);
}

/** RFC 2045 quoted-printable of UTF-8 text; any of CRLF, CR or LF in the input becomes CRLF. */
export function encodeQuotedPrintable(text: string): string {
  const lines = text.split(NEWLINE);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (!isPlainLine(line)) lines[i] = encodeLine(line);
  }
  return lines.join('\r\n');
}

function isPlainLine(line: string): boolean {
  const n = line.length;
  if (n === 0) return true;
  if (n > MAX_LINE) return false;
  const last = line.charCodeAt(n - 1);
  // Trailing blanks are stripped by some relays; a leading '.' relies on dot-stuffing.
  if (last === 0x20 || line.charCodeAt(0) === 0x2e) return false;
  return PLAIN_LINE.test(line);
}

function isLiteral(c: number): boolean {
  return (c >= 0x20 && c <= 0x7e && c !== 0x3d) || c === 0x09;
}

/**
 * Encodes one line (no line breaks in it). Runs of literal characters are copied as slices;
 * only '=', non-ASCII, a trailing blank and a dot at the start of an output line are escaped.
 */
function encodeLine(line: string): string {
  const n = line.length;
  let out = '';
  let width = 0;
  let i = 0;
  while (i < n) {
    const c = line.charCodeAt(i);
    if (isLiteral(c) && !(c === 0x2e && width === 0)) {
      let j = i + 1;
      while (j < n && isLiteral(line.charCodeAt(j))) j++;
      const lastC = line.charCodeAt(j - 1);
      if (j === n && (lastC === 0x20 || lastC === 0x09)) j--;
      if (j > i) {
        while (i < j) {
          // A continued output line keeps one column for its soft break '='.
          const room = MAX_LINE - 1 - width;
          const left = j - i;
          if (left <= room || (j === n && left === room + 1)) {
            out += line.slice(i, j);
            width += left;
            i = j;
            break;
          }
          out += `${line.slice(i, i + room)}=\r\n`;
          i += room;
          width = 0;
          if (line.charCodeAt(i) === 0x2e) break;
        }
        continue;
      }
    }
    let cp = c;
    let step = 1;
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = line.charCodeAt(i + 1);
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        step = 2;
      } else cp = 0xfffd; // a lone surrogate, as Buffer.from would write it
    }
    const bytes = utf8(cp);
    const lineEnds = i + step === n;
    for (let k = 0; k < bytes.length; k++) {
      const limit = lineEnds && k === bytes.length - 1 ? MAX_LINE : MAX_LINE - 1;
      if (width + 3 > limit) {
        out += '=\r\n';
        width = 0;
      }
      out += HEX[bytes[k] as number] as string;
      width += 3;
    }
    i += step;
  }
  return out;
}

function utf8(cp: number): number[] {
  if (cp < 0x80) return [cp];
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 63)];
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
}

/** Base64 of the UTF-8 text with CRLF line ends, wrapped at 76 columns. */
export function encodeBase64(text: string): string {
  const b64 = Buffer.from(text.replace(/\r\n|\r|\n/g, '\r\n'), 'utf8').toString('base64');
  return wrap(b64, MAX_LINE);
}

export function wrap(text: string, width: number): string {
  if (text.length <= width) return text;
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += width) lines.push(text.slice(i, i + width));
  return lines.join('\r\n');
}
