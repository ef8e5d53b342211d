/**
 * A small, tolerant MIME walker for bounce and complaint reports. Bounded on every axis (input
 * size, depth, part count, header count) and built on line scans and linear regexes only, so
 * hostile input can neither hang nor exhaust it.
 */
export const LIMITS = {
  maxInput: 10 * 1024 * 1024,
  maxDepth: 8,
  maxParts: 200,
  maxHeaders: 500,
  maxHeaderValue: 8 * 1024,
} as const;

export interface Header {
  /** Lower-case. */
  readonly name: string;
  readonly value: string;
}

export interface Part {
  readonly headers: readonly Header[];
  /** Lower-case media type, 'text/plain' when absent. */
  readonly type: string;
  readonly params: Readonly<Record<string, string>>;
  /** The decoded body (transfer encoding undone); empty for multiparts. */
  readonly body: string;
  readonly parts: readonly Part[];
  /** For message/rfc822 and text/rfc822-headers: the embedded message. */
  readonly message?: Part;
}

interface Budget {
  parts: number;
  truncated: boolean;
}

export interface Walked {
  readonly root: Part;
  readonly truncated: boolean;
}

export function walk(text: string): Walked {
  const budget: Budget = { parts: 0, truncated: false };
  const root = parsePart(text, 0, budget, 'text/plain');
  return { root, truncated: budget.truncated };
}

export function header(headers: readonly Header[], name: string): string | undefined {
  return headers.find((h) => h.name === name)?.value;
}

/** Splits at the first blank line; a text with no header block gives no headers. */
export function splitMessage(text: string): { head: string; body: string } {
  const m = /\r?\n\r?\n/.exec(text);
  if (!m) return looksLikeHeader(text) ? { head: text, body: '' } : { head: '', body: text };
  return { head: text.slice(0, m.index), body: text.slice(m.index + m[0].length) };
}

const HEADER_LINE = /^([!-9;-~]{1,100}):[ \t]?(.*)$/;

function looksLikeHeader(text: string): boolean {
  return HEADER_LINE.test(text.slice(0, 200).split('\n', 1)[0] ?? '');
}

/**
 * Unfolds continuation lines; skips lines that are not headers (an mbox "From " line, junk).
 * `loose` joins such lines to the header before them instead: some DSN writers put multi-line
 * replies ("550-…") into Diagnostic-Code without indenting them.
 */
export function parseHeaders(head: string, loose = false): Header[] {
  const out: Header[] = [];
  for (const raw of head.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const folded = line.startsWith(' ') || line.startsWith('\t') || (loose && line.trim() !== '' && !HEADER_LINE.test(line.slice(0, 200)));
    if (folded && out.length > 0) {
      const last = out[out.length - 1] as Header;
      if (last.value.length < LIMITS.maxHeaderValue) {
        out[out.length - 1] = { name: last.name, value: `${last.value} ${line.trim()}`.slice(0, LIMITS.maxHeaderValue) };
      }
      continue;
    }
    if (out.length >= LIMITS.maxHeaders) continue;
    const m = HEADER_LINE.exec(line.length > LIMITS.maxHeaderValue ? line.slice(0, LIMITS.maxHeaderValue) : line);
    if (m) out.push({ name: (m[1] as string).toLowerCase(), value: (m[2] as string).trim() });
  }
  return out;
}

/** 'multipart/report; report-type=delivery-status; boundary="x"' → type and lower-case params. */
export function parseContentType(value: string | undefined, fallback: string): { type: string; params: Record<string, string> } {
  if (!value) return { type: fallback, params: {} };
  const [first, ...rest] = splitParams(value);
  const type = (first ?? '').trim().toLowerCase();
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq <= 0) continue;
    let v = p.slice(eq + 1).trim();
    if (v.startsWith('"')) v = v.slice(1, v.endsWith('"') && v.length > 1 ? -1 : undefined);
    params[p.slice(0, eq).trim().toLowerCase()] = v;
  }
  return { type: /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/.test(type) ? type : fallback, params };
}

/** Splits on ';' outside double quotes. */
function splitParams(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    if (ch === ';' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function parsePart(text: string, depth: number, budget: Budget, defaultType: string): Part {
  budget.parts += 1;
  const { head, body } = splitMessage(text);
  const headers = parseHeaders(head);
  const ct = parseContentType(header(headers, 'content-type'), defaultType);
  const cte = (header(headers, 'content-transfer-encoding') ?? '').trim().toLowerCase();
  const base = { headers, type: ct.type, params: ct.params };

  const boundary = ct.params.boundary;
  if (ct.type.startsWith('multipart/') && boundary) {
    if (depth >= LIMITS.maxDepth) {
      budget.truncated = true;
      return { ...base, body: '', parts: [] };
    }
    const childType = ct.type === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
    const parts: Part[] = [];
    for (const chunk of splitMultipart(body, boundary)) {
      if (budget.parts >= LIMITS.maxParts) {
        budget.truncated = true;
        break;
      }
      parts.push(parsePart(chunk, depth + 1, budget, childType));
    }
    return { ...base, body: '', parts };
  }
  const decoded = decodeBody(body, cte, ct.params.charset);
  if (ct.type === 'message/rfc822' || ct.type === 'text/rfc822-headers' || ct.type === 'message/rfc822-headers' || ct.type === 'message/global' || ct.type === 'message/global-headers') {
    if (depth >= LIMITS.maxDepth || budget.parts >= LIMITS.maxParts) {
      budget.truncated = true;
      return { ...base, body: decoded, parts: [] };
    }
    return { ...base, body: decoded, parts: [], message: parsePart(decoded, depth + 1, budget, 'text/plain') };
  }
  return { ...base, body: decoded, parts: [] };
}

/** The bodies between boundary lines; tolerant of a missing close and of trailing blanks. */
export function splitMultipart(body: string, boundary: string): string[] {
  const open = `--${boundary}`;
  const chunks: string[] = [];
  let current: string[] | undefined;
  for (const raw of body.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.startsWith(open)) {
      const tail = line.slice(open.length).trimEnd();
      if (tail === '' || tail === '--') {
        if (current) chunks.push(current.join('\n'));
        current = tail === '--' ? undefined : [];
        if (tail === '--') break;
        continue;
      }
    }
    current?.push(line);
  }
  if (current) chunks.push(current.join('\n'));
  return chunks;
}

export function decodeBody(body: string, cte: string, charset: string | undefined): string {
  if (cte === 'base64') return bytesToText(Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64'), charset);
  if (cte === 'quoted-printable') return bytesToText(decodeQuotedPrintable(body), charset);
  return body;
}

export function decodeQuotedPrintable(text: string): Uint8Array {
  const soft = text.replace(/=\r?\n/g, '');
  const out = new Uint8Array(soft.length * 3);
  let n = 0;
  for (let i = 0; i < soft.length; i++) {
    const c = soft.charCodeAt(i);
    if (c === 61 /* = */ && i + 2 < soft.length && isHex(soft.charCodeAt(i + 1)) && isHex(soft.charCodeAt(i + 2))) {
      out[n++] = parseInt(soft.slice(i + 1, i + 3), 16);
      i += 2;
    } else if (c < 128) {
      out[n++] = c;
    } else {
      // Already-decoded text: keep it as UTF-8.
      for (const b of Buffer.from(soft[i] as string, 'utf8')) out[n++] = b;
    }
  }
  return out.subarray(0, n);
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

export function bytesToText(bytes: Uint8Array, charset: string | undefined): string {
  const label = (charset ?? 'utf-8').trim().toLowerCase();
  try {
    return new TextDecoder(label).decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
}

const ENCODED_WORD = /=\?([^?\s]{1,64})\?([bBqQ])\?([^?\s]{0,2000})\?=/g;

/** RFC 2047 encoded words (enough to read subjects); malformed words stay as they are. */
export function decodeWords(value: string): string {
  if (!value.includes('=?')) return value;
  const joined = value.replace(/\?=\s+=\?/g, '?==?');
  return joined.replace(ENCODED_WORD, (whole, charset: string, enc: string, data: string) => {
    try {
      const bytes = enc.toLowerCase() === 'b' ? Buffer.from(data, 'base64') : decodeQuotedPrintable(data.replace(/_/g, ' '));
      return bytesToText(bytes, charset.split('*')[0]);
    } catch {
      return whole;
    }
  });
}
