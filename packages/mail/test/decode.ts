// Test-only decoders, written from RFC 2045/2047 and independent of the encoders under test.
// Kept outside src/ so the build never ships them.

export function decodeQuotedPrintable(encoded: string): string {
  const joined = encoded.replace(/=\r\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const c = joined[i] as string;
    if (c === '=') {
      const hex = joined.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) throw new Error(`bad escape at ${i}: ${JSON.stringify(joined.slice(i, i + 3))}`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      const code = c.charCodeAt(0);
      if (code > 0x7e) throw new Error(`raw non-ASCII in QP at ${i}`);
      bytes.push(code);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export function decodeEncodedWords(value: string): string {
  // Whitespace (including folds) between adjacent encoded words is not part of the text.
  const unfolded = value.replace(/\r\n(?=[ \t])/g, '');
  const collapsed = unfolded.replace(/(\?=)\s+(?==\?)/g, '$1');
  return collapsed.replace(/=\?UTF-8\?([BQ])\?([^?]*)\?=/gi, (_m, enc: string, text: string) => {
    if (enc.toUpperCase() === 'B') return Buffer.from(text, 'base64').toString('utf8');
    const bytes: number[] = [];
    for (let i = 0; i < text.length; i++) {
      const c = text[i] as string;
      if (c === '_') bytes.push(0x20);
      else if (c === '=') {
        bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
        i += 2;
      } else bytes.push(c.charCodeAt(0));
    }
    return Buffer.from(bytes).toString('utf8');
  });
}

export interface ParsedPart {
  headers: Map<string, string>;
  rawHeaders: string;
  body: string;
}

/** Splits at the first blank line; header names lower-cased, values unfolded but not decoded. */
export function parsePart(raw: string): ParsedPart {
  const split = raw.indexOf('\r\n\r\n');
  const rawHeaders = raw.slice(0, split);
  const body = raw.slice(split + 4);
  const headers = new Map<string, string>();
  for (const field of rawHeaders.split(/\r\n(?![ \t])/)) {
    const colon = field.indexOf(':');
    headers.set(field.slice(0, colon).toLowerCase(), field.slice(colon + 1).replace(/^ /, ''));
  }
  return { headers, rawHeaders, body };
}

export function decodeBody(part: ParsedPart): string {
  const cte = part.headers.get('content-transfer-encoding');
  if (cte === 'quoted-printable') return decodeQuotedPrintable(part.body);
  if (cte === 'base64') return Buffer.from(part.body.replace(/\r\n/g, ''), 'base64').toString('utf8');
  throw new Error(`unexpected transfer encoding ${cte}`);
}
