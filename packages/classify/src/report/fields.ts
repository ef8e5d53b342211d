import { parseHeaders, type Header } from './mime.js';

/** RFC 3464 message/delivery-status: per-message fields, then one group per recipient. */
export interface DeliveryStatus {
  readonly perMessage: Readonly<Record<string, string>>;
  readonly recipients: ReadonlyArray<Readonly<Record<string, string>>>;
}

const MAX_GROUPS = 500;

export function parseDeliveryStatus(body: string): DeliveryStatus {
  const groups = body
    .replace(/\r\n/g, '\n')
    .split(/\n[ \t]*\n/)
    .slice(0, MAX_GROUPS)
    .map((g) => toRecord(parseHeaders(g.replace(/^\n+/, ''), true)))
    .filter((g) => Object.keys(g).length > 0);
  const perMessage: Record<string, string> = {};
  const recipients: Array<Record<string, string>> = [];
  for (const g of groups) {
    if (g['final-recipient'] || g['original-recipient']) recipients.push(g);
    else Object.assign(perMessage, g);
  }
  return { perMessage, recipients };
}

/** RFC 5965 message/feedback-report: one block of fields (repeated ones keep the first) and every Original-Rcpt-To. */
export function parseFeedbackReport(body: string): { fields: Record<string, string>; rcptTo: string[] } {
  const headers = parseHeaders(body.replace(/\r\n/g, '\n').replace(/\n[ \t]*\n/g, '\n'));
  const rcptTo = headers.filter((h) => h.name === 'original-rcpt-to').flatMap((h) => cleanAddress(h.value) ?? []);
  return { fields: toRecord(headers), rcptTo };
}

export function toRecord(headers: readonly Header[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of headers) if (!(h.name in out)) out[h.name] = h.value;
  return out;
}

/** 'rfc822; <Bob@Example.com>' → 'bob@example.com'; undefined when no address is there. */
export function cleanAddress(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const semi = value.indexOf(';');
  const addr = (semi >= 0 && semi < 40 ? value.slice(semi + 1) : value).trim();
  const m = /<([^<>\s]{1,320})>/.exec(addr) ?? /([^\s<>()",;:]{1,200}@[^\s<>()",;:]{1,200})/.exec(addr);
  const out = (m ? (m[1] as string) : addr).replace(/^mailto:/i, '').toLowerCase();
  return out.includes('@') && out.length <= 320 ? out : undefined;
}

/** 'smtp; 550 5.1.1 ...' → '550 5.1.1 ...'. */
export function stripType(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const m = /^\s*[a-z0-9-]{1,20}\s*;\s*/i.exec(value);
  return m ? value.slice(m[0].length) : value;
}
