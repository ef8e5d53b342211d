/**
 * Bounces with no delivery-status part (qmail, Exim, old Sendmail, Exchange, Gmail, Yahoo):
 * the recipients are the lines that start with an address, and each one's diagnostic is the
 * text after it, up to the next address line.
 */
const MAX_NOTICE = 64 * 1024;
const MAX_LINE = 1000;

// Where the notice ends and the copy of the original begins.
const ORIGINAL_MARKERS = [
  /^-+ ?this is a copy of (?:the|your) message/i,
  /^-+ ?below this line is a copy of the message/i,
  /^-+ ?original message/i,
  /^-+ ?the header of the original message/i,
  /^-+ ?original message headers/i,
  /^original message headers:?$/i,
  /^original message follows\.?$/i,
  /^below is a copy of the original message:?$/i,
  /^-+ ?(?:returned|undelivered|unsent) message/i,
  /^-+ ?message header follows/i,
  /^-+ ?(?:the )?original message (?:follows|text|header)/i,
  /^-+ ?start of returned message/i,
  /^-+ ?message text follows/i,
  /^-+ ?enclosed (?:is|are) (?:a copy|the original)/i,
];

export function splitNotice(text: string): { notice: string; quoted: string | undefined } {
  const lines = text.slice(0, MAX_NOTICE * 4).split('\n');
  let offset = 0;
  for (const raw of lines) {
    const line = raw.trim();
    if (line.length < 200 && ORIGINAL_MARKERS.some((re) => re.test(line))) {
      return { notice: text.slice(0, Math.min(offset, MAX_NOTICE)), quoted: text.slice(offset + raw.length + 1) };
    }
    offset += raw.length + 1;
  }
  return { notice: text.slice(0, MAX_NOTICE), quoted: undefined };
}

export interface TextRecipient {
  readonly recipient: string;
  readonly diagnostic: string;
}

const ADDRESS = /[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){1,8}/i;
// A line that starts with an address (bare, <…>, "Name (addr)", mailto:), then nothing much.
const ADDRESS_LINE = new RegExp(
  String.raw`^\s*(?:[^\s<>()@\d#][^\s<>()@]{0,39}\s){0,3}?[<(]?(?:mailto:)?(${ADDRESS.source})[>)]?\s*(?:$|:|\.\.\.|,|\s+\(|\s+-|\s+on\s+\d|\s+[<(]?(?:mailto:)?${ADDRESS.source}[>)]?\s*$)`,
  'i',
);
const CODE_LINE = /(?:^|[\s#:'"(<])[245]\d\d[ -]|(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?![\d.])/;
// Lines that name an address but are not a recipient entry.
const NOT_RECIPIENT = /^\s*(?:from|to|cc|reply-to|return-path|sender|received|for|by|date|subject|message-id|x-[a-z-]+)\s*:/i;

export function recipientsFromText(notice: string): TextRecipient[] {
  const lines = notice.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const found: Array<{ recipient: string; lines: string[] }> = [];
  let current: { recipient: string; lines: string[] } | undefined;
  for (const line of lines) {
    const m = line.length <= MAX_LINE && !NOT_RECIPIENT.test(line) ? ADDRESS_LINE.exec(line) : null;
    if (m) {
      current = { recipient: (m[1] as string).toLowerCase().replace(/\.$/, ''), lines: [line.slice(m[0].length)] };
      found.push(current);
      continue;
    }
    if (current && current.lines.length < 30) current.lines.push(line.length > MAX_LINE ? line.slice(0, MAX_LINE) : line);
  }
  if (found.length === 0) return trailingAddresses(lines);
  const merged = new Map<string, string>();
  for (const f of found) {
    const diag = pickDiagnostic(f.lines);
    const prev = merged.get(f.recipient);
    if (prev === undefined || (!CODE_LINE.test(prev) && CODE_LINE.test(diag)) || (!prev && diag)) merged.set(f.recipient, diag);
  }
  return [...merged].map(([recipient, diagnostic]) => ({ recipient, diagnostic }));
}

/** The paragraph of the notice that names the address ("Your message wasn't delivered to x because …"). */
export function paragraphWith(notice: string, address: string): string {
  const paragraphs = notice.slice(0, MAX_NOTICE).split(/\n[ \t]*\n/);
  const hit = paragraphs.find((p) => p.length < 4000 && p.toLowerCase().includes(address));
  return hit ? hit.replace(/\s+/g, ' ').trim() : '';
}

/** The notice's own diagnostic, for recipients named only in X-Failed-Recipients. */
export function noticeDiagnostic(notice: string): string {
  const lines = notice.split('\n').slice(0, 2000).map((l) => (l.length > MAX_LINE ? l.slice(0, MAX_LINE) : l));
  return lines.some((l) => CODE_LINE.test(l)) ? pickDiagnostic(lines) : '';
}

/** The paragraph after an address, starting just before its first reply code if it has one. */
function pickDiagnostic(lines: readonly string[]): string {
  const trimmed = lines.map((l) => l.trim());
  const at = trimmed.findIndex((l) => CODE_LINE.test(l));
  let from = at > 0 && trimmed[at - 1] ? at - 1 : Math.max(at, 0);
  while (from < trimmed.length && !trimmed[from]) from++;
  // One paragraph, or more while what we have is only a lead-in ("because:").
  const out: string[] = [];
  for (let i = from, paragraphs = 0; i < trimmed.length && paragraphs < 3; i++) {
    if (trimmed[i]) out.push(trimmed[i] as string);
    else if (out.length > 0) {
      const text = out.join(' ');
      if (text.length >= 25 && !text.endsWith(':')) break;
      paragraphs++;
    }
  }
  return out.join(' ').replace(/^[:.\s]+/, '');
}

// "User mailbox exceeds allowed size: bob@example.com" — the reason first, the address last.
const TRAILING_ADDRESS = new RegExp(String.raw`^\s*([^<>@\n]{3,200}?):\s*<?(${ADDRESS.source})>?\s*$`, 'i');

function trailingAddresses(lines: readonly string[]): TextRecipient[] {
  const out: TextRecipient[] = [];
  for (const line of lines.slice(0, 200)) {
    const m = line.length <= MAX_LINE && !NOT_RECIPIENT.test(line) ? TRAILING_ADDRESS.exec(line) : null;
    if (m && out.length < 50) out.push({ recipient: (m[2] as string).toLowerCase(), diagnostic: (m[1] as string).trim() });
  }
  return out;
}

/** Reads one address out of a header value such as 'Bob <bob@example.com>'. */
export function firstAddress(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const m = ADDRESS.exec(value.slice(0, 2000));
  return m ? m[0].toLowerCase() : undefined;
}
