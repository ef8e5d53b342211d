import { parseEnhancedCode } from '../codes.js';
import { classifyBounce } from './bounce.js';
import { cleanAddress, parseDeliveryStatus, parseFeedbackReport, stripType, toRecord, type DeliveryStatus } from './fields.js';
import { firstAddress, noticeDiagnostic, paragraphWith, recipientsFromText, splitNotice } from './freetext.js';
import { LIMITS, decodeWords, header, parseHeaders, splitMessage, walk, type Part } from './mime.js';
import {
  ReportParseError,
  type ComplaintReport,
  type OriginalMessage,
  type ParsedReport,
  type RecipientReport,
  type ReportKind,
} from './types.js';

export const DIAGNOSTIC_MAX = 1000;
const MAX_RECIPIENTS = 500;
const NOT_COMPLAINTS = new Set(['auth-failure', 'not-spam']);

/**
 * Reads an asynchronous report mail — an RFC 3464 DSN, a free-text bounce, an ARF complaint, an
 * auto-reply or an unsubscribe request — into its kind and one verdict per recipient. Throws
 * only ReportParseError, for empty input or input with no mail header.
 */
export function parseReport(raw: string | Uint8Array): ParsedReport {
  let truncated = false;
  let text: string;
  if (typeof raw === 'string') {
    truncated = raw.length > LIMITS.maxInput;
    text = truncated ? raw.slice(0, LIMITS.maxInput) : raw;
  } else {
    truncated = raw.length > LIMITS.maxInput;
    text = new TextDecoder('utf-8').decode(truncated ? raw.subarray(0, LIMITS.maxInput) : raw);
  }
  if (!text.trim()) throw new ReportParseError('empty input: not a mail');
  // One line-ending convention from here on: CRLF and old Mac CR both become LF.
  const walked = walk(text.replace(/\r\n?/g, '\n').replace(/^\s+/, ''));
  if (walked.root.headers.length === 0) throw new ReportParseError('no mail header found: not a mail');
  const ctx = new Context(walked.root);
  return { ...read(ctx), headers: toRecord(walked.root.headers), truncated: truncated || walked.truncated };
}

/** The report's root and its own parts (not those inside a returned message), in tree order. */
class Context {
  readonly own: Part[] = [];
  constructor(readonly root: Part) {
    this.collect(root);
  }
  private collect(p: Part): void {
    this.own.push(p);
    for (const c of p.parts) this.collect(c);
  }
  find(type: string): Part | undefined {
    return this.own.find((p) => p.type === type);
  }
  get(name: string): string | undefined {
    return header(this.root.headers, name);
  }
}

function read(ctx: Context): Omit<ParsedReport, 'truncated' | 'headers'> {
  const arf = ctx.find('message/feedback-report');
  if (arf || ctx.root.params['report-type']?.toLowerCase() === 'feedback-report' || isJmrp(ctx)) return complaint(ctx, arf);

  const dsnPart = ctx.find('message/delivery-status') ?? ctx.find('message/global-delivery-status');
  const notice = noticeText(ctx);
  const split = splitNotice(notice);
  const original = originalOf(ctx, split.quoted);
  if (dsnPart) {
    const dsn = parseDeliveryStatus(dsnPart.body);
    const fromDsn = dsnRecipients(dsn, recipientsFromText(split.notice), split.notice);
    if (fromDsn.recipients.length > 0 || dsn.recipients.length > 0) {
      return { kind: fromDsn.kind, recipients: fromDsn.recipients, original, reportingMta: stripType(dsn.perMessage['reporting-mta']) };
    }
  }
  const subject = decodeWords(ctx.get('subject') ?? '');
  if (isBounce(ctx, subject, split.notice)) {
    const delay = isDelay(subject, split.notice);
    const found = recipientsFromText(split.notice);
    const fallback = found.length > 0 ? '' : noticeDiagnostic(split.notice);
    const failed = found.length > 0 ? found : (ctx.get('x-failed-recipients') ?? '').split(',').flatMap((a) => {
      const r = cleanAddress(a);
      return r ? [{ recipient: r, diagnostic: fallback }] : [];
    });
    const recipients = failed.slice(0, MAX_RECIPIENTS).map((f) => recipientReport(f.recipient, { diagnostic: f.diagnostic, action: delay ? 'delayed' : 'failed' }));
    return { kind: delay ? 'delay' : 'bounce', recipients, original };
  }
  if (isAutoReply(ctx, subject)) return { kind: 'auto_reply', recipients: [], original };
  if (isUnsubscribe(subject, split.notice)) {
    const from = firstAddress(ctx.get('from'));
    const recipients: RecipientReport[] = from ? [{ recipient: from, reason: 'unsubscribed', severity: 'sender', suppress: true }] : [];
    return { kind: 'unsubscribe', recipients, original: { headers: {} } };
  }
  return { kind: 'unknown', recipients: [], original };
}

function recipientReport(recipient: string, f: { status?: string; replyCode?: number; diagnostic?: string; action?: string; remoteMta?: string }): RecipientReport {
  const diagnostic = f.diagnostic ? f.diagnostic.replace(/\s+/g, ' ').trim().slice(0, DIAGNOSTIC_MAX) : undefined;
  const status = /^\s*[245]\.\d{1,3}\.\d{1,3}/.exec(f.status ?? '')?.[0].trim() ?? parseEnhancedCode(diagnostic)?.code;
  const replyCode = f.replyCode ?? replyCodeIn(diagnostic);
  const delayed = f.action === 'delayed';
  const verdict = classifyBounce({ status, replyCode, diagnostic });
  // A delay is never final, whatever its text says.
  const final = delayed && verdict.severity === 'hard' ? { ...verdict, severity: 'soft' as const, suppress: false } : verdict;
  return {
    recipient,
    ...(f.action ? { action: f.action } : {}),
    ...(status ? { status } : {}),
    ...(replyCode !== undefined ? { replyCode } : {}),
    ...(diagnostic ? { diagnostic } : {}),
    ...(f.remoteMta ? { remoteMta: f.remoteMta } : {}),
    ...final,
  };
}

function replyCodeIn(text: string | undefined): number | undefined {
  const m = /(?:^|[\s#:'"(<])([245]\d\d)(?:[ -]|$)/.exec((text ?? '').slice(0, 600));
  return m ? Number(m[1]) : undefined;
}

function dsnRecipients(dsn: DeliveryStatus, fromText: ReturnType<typeof recipientsFromText>, notice: string): { kind: ReportKind; recipients: RecipientReport[] } {
  const textDiag = new Map(fromText.map((t) => [t.recipient, t.diagnostic]));
  const recipients: RecipientReport[] = [];
  let failed = 0;
  let delayed = 0;
  for (const g of dsn.recipients.slice(0, MAX_RECIPIENTS)) {
    const action = (g.action ?? '').trim().toLowerCase().split(/\s/)[0] ?? '';
    if (action === 'delivered' || action === 'relayed' || action === 'expanded') continue;
    const recipient = cleanAddress(g['final-recipient']) ?? cleanAddress(g['original-recipient']);
    if (!recipient) continue;
    const status = g.status?.trim();
    const isDelayed = action === 'delayed' || (!action && status?.startsWith('4.') === true && !/expired|giving up|too long/i.test(g['diagnostic-code'] ?? ''));
    if (isDelayed) delayed++;
    else failed++;
    const diagnostic = stripType(g['diagnostic-code']) || textDiag.get(recipient) || paragraphWith(notice, recipient) || undefined;
    recipients.push(
      recipientReport(recipient, {
        action: action || (isDelayed ? 'delayed' : 'failed'),
        status,
        diagnostic,
        remoteMta: stripType(g['remote-mta'])?.trim() || undefined,
      }),
    );
  }
  const kind: ReportKind = failed > 0 ? 'bounce' : delayed > 0 ? 'delay' : 'unknown';
  return { kind, recipients };
}

function complaint(ctx: Context, arf: Part | undefined): Omit<ParsedReport, 'truncated' | 'headers'> {
  const { fields: f, rcptTo } = arf ? parseFeedbackReport(arf.body) : { fields: {} as Record<string, string>, rcptTo: [] };
  const original = originalOf(ctx, undefined);
  // Microsoft's JMRP (not ARF) names the complaining recipient in a header of the returned message.
  const jmrp = cleanAddress(original.headers['x-hmxmroriginalrecipient']);
  const listed = rcptTo.length > 0 ? rcptTo : [cleanAddress(f['removal-recipient']) ?? jmrp ?? firstAddress(original.headers.to)].flatMap((a) => a ?? []);
  const originalRecipient = listed[0];
  const arrivalDate = f['arrival-date'] ?? f['received-date'];
  const report: ComplaintReport = {
    feedbackType: (f['feedback-type'] ?? 'abuse').trim().toLowerCase(),
    ...(f['user-agent'] ? { userAgent: f['user-agent'] } : {}),
    ...(originalRecipient ? { originalRecipient } : {}),
    ...(arrivalDate ? { arrivalDate } : {}),
    ...(f['source-ip'] ? { sourceIp: f['source-ip'].trim() } : {}),
  };
  // DMARC failure reports (RFC 6591 auth-failure) and not-spam reports are not complaints.
  const complained = !NOT_COMPLAINTS.has(report.feedbackType);
  const recipients: RecipientReport[] = complained
    ? [...new Set(listed)].slice(0, MAX_RECIPIENTS).map((recipient) => ({ recipient, reason: 'complained', severity: 'sender', suppress: true }))
    : [];
  const reportingMta = f['reporting-mta'] ? { reportingMta: stripType(f['reporting-mta']) } : {};
  return { kind: complained ? 'complaint' : 'unknown', recipients, original, complaint: report, ...reportingMta };
}

function isJmrp(ctx: Context): boolean {
  const embedded = ctx.own.find((p) => p.message && p !== ctx.root)?.message;
  return embedded !== undefined && (header(embedded.headers, 'x-hmxmroriginalrecipient') !== undefined || /^\s*complaint about message from/i.test(ctx.get('subject') ?? ''));
}

/** The human-readable part of the report: its first text part outside any returned message. */
function noticeText(ctx: Context): string {
  const text = ctx.own.find((p) => p.parts.length === 0 && !p.message && (p.type === 'text/plain' || p.type === 'text/html'));
  const body = text?.body ?? '';
  return text?.type === 'text/html' ? body.replace(/<br\s*\/?>|<\/(?:p|div|tr|li)>/gi, '\n').replace(/<[^<>]{0,2000}>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&').replace(/&nbsp;/g, ' ') : body;
}

function originalOf(ctx: Context, quoted: string | undefined): OriginalMessage {
  const embedded = ctx.own.find((p) => p.message && p !== ctx.root)?.message;
  let headers = embedded?.headers;
  if (!headers?.length && quoted) {
    const { head } = splitMessage(quoted.replace(/^\s+/, ''));
    headers = parseHeaders(head);
  }
  if (!headers?.length) return { headers: {} };
  const rec = toRecord(headers.slice(0, 200).map((h) => ({ name: h.name, value: decodeWords(h.value).slice(0, 2000) })));
  const id = rec['message-id']?.replace(/\s+/g, '');
  const messageId = id ? (/<([^<>]{1,500})>/.exec(id)?.[1] ?? id) : undefined;
  return { ...(messageId ? { messageId } : {}), headers: rec };
}

const BOUNCE_FROM = /mailer-daemon|postmaster|mail delivery|mail administrator|mail system|mailadmin|nobody@|bounce/i;
const BOUNCE_SUBJECT =
  /undeliver|undelivered|delivery (?:status notification|failure|failed|has failed|notification|problem|report)|returned mail|failure notice|delivery failed|non-?delivery|could not be delivered|couldn't be delivered|not delivered|mail delivery|warning: could not send|delayed mail|delivery delayed|message delayed|rejected|returned to sender|mail system error|nondeliverable/i;
const BOUNCE_BODY =
  /qmail-send program|could not be delivered|couldn't be delivered|wasn't able to deliver|delivery has failed|delivery to the following recipients? failed|permanent (?:fatal )?error|following address(?:es)? failed|address not found|message (?:was )?not delivered|mail delivery failed|has not yet been delivered|unable to deliver|could not deliver|undeliverable/i;

function isBounce(ctx: Context, subject: string, notice: string): boolean {
  const from = ctx.get('from') ?? '';
  if (ctx.root.params['report-type']?.toLowerCase() === 'delivery-status') return true;
  if (ctx.get('x-failed-recipients')) return true;
  if (BOUNCE_FROM.test(from.slice(0, 300)) && (BOUNCE_SUBJECT.test(subject) || BOUNCE_BODY.test(notice.slice(0, 20000)))) return true;
  return BOUNCE_SUBJECT.test(subject) && BOUNCE_BODY.test(notice.slice(0, 20000));
}

function isDelay(subject: string, notice: string): boolean {
  if (/delay|warning|not yet been delivered|still trying/i.test(subject)) return true;
  const head = notice.slice(0, 5000);
  return /(?:has not yet been delivered|will (?:continue|keep) (?:to )?try|still trying|is delayed|delivery (?:is )?delayed)/i.test(head) && !/permanent|failed permanently|given up|giving up|could not be delivered/i.test(head);
}

const AUTO_SUBJECT = /out of (?:the )?office|thank you for your (?:e-?mail|message)|auto(?:matic)?[- ]?(?:reply|response|antwort|réponse)|autoreply|vacation|away from (?:my|the) (?:desk|office)|automatische antwort|automatyczna odpowied|r[ée]ponse automatique|respuesta autom[aá]tica|risposta automatica|abwesenheit|absence|on leave|holiday/i;

function isAutoReply(ctx: Context, subject: string): boolean {
  const auto = (ctx.get('auto-submitted') ?? '').toLowerCase();
  if (auto.startsWith('auto-replied')) return true;
  if (ctx.get('x-autoreply') || ctx.get('x-autorespond') || ctx.get('x-autoresponder')) return true;
  const precedence = ctx.get('precedence') ?? '';
  if (/auto_reply/i.test(precedence)) return true;
  // A null-sender bulk mail that is not a bounce is an autoresponder without the headers.
  if (/^\s*<\s*>\s*$/.test(ctx.get('return-path') ?? '') && /bulk|junk/i.test(precedence)) return true;
  return AUTO_SUBJECT.test(subject);
}

function isUnsubscribe(subject: string, notice: string): boolean {
  return /^\s*(?:re:\s*)?unsubscribe\b/i.test(subject) || /^\s*unsubscribe\s*$/im.test(notice.slice(0, 2000));
}
