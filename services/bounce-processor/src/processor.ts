import { publishEvent, type Bus } from '@postbus/bus';
import { classifyBounce, parseReport, type ParsedReport } from '@postbus/classify';
import { FEEDBACK_SUBJECT_TOKEN, TRACKING_SUBJECT_TOKEN, addressHash, decodeEvent, isPostbusError, suppressionShard, verpMessageId, type PostbusEvent } from '@postbus/contracts';
import {
  addSuppressionRow,
  enqueueFeedbackEvent,
  findReportedMessage,
  lastMessageTo,
  pendingFeedbackEvents,
  recordBounce,
  recordReport,
  removeFeedbackEvents,
  saveMailboxCursor,
  softBouncesSince,
  type Database,
  type FeedbackMailbox,
  type Queryable,
  type ReportedMessage,
} from '@postbus/db';
import { metrics, type Logger } from '@postbus/telemetry';
import {
  DEFAULT_SOFT_BOUNCE_RULE,
  decideBounce,
  decideComplaint,
  decideMailedUnsubscribe,
  ourMessageId,
  suppressedEvent,
  type Decision,
  type FeedbackOutput,
  type SoftBounceRule,
  type Where,
} from './domain/decide.js';
import { reportText } from './domain/headers.js';

/** Opens the unsubscribe token of a mailed request (a TokenKeyring from packages/secrets). */
export interface UnsubscribeTokens {
  open(kind: 'unsub', token: string): { ok: true; payload: { messageId: string; accountId: string; address: string; campaignId?: string } } | { ok: false };
}

export interface ProcessorDeps {
  readonly db: Database;
  readonly bus: Bus;
  readonly log: Logger;
  readonly tokens?: UnsubscribeTokens;
  readonly softBounce?: SoftBounceRule;
  readonly clock?: () => Date;
  readonly publishTimeoutMs?: number;
}

export interface ReportMail {
  readonly uid: number;
  readonly source: Buffer;
  readonly truncated: boolean;
}

export interface ProcessResult {
  readonly kind: ParsedReport['kind'] | 'unreadable' | 'seen';
  readonly recipients: number;
  readonly matched: number;
  readonly suppressed: number;
  readonly events: number;
}

interface Outgoing {
  readonly subject: string;
  readonly event: FeedbackOutput;
}

/** The `source` of the suppression rows this service writes. */
export const SUPPRESSION_SOURCE = 'bounce-processor';

const TOKEN_IN_SUBJECT = /\bunsubscribe\s+([A-Za-z0-9_-]{16,600})/i;

/** What is recorded of a processed report mail (feedback_reports, gmail_reports). */
export interface ReportRecord {
  readonly kind: string;
  readonly recipients: number;
  readonly matched: number;
  readonly note?: string;
}

/** Where a report mail was read: an IMAP folder or a Gmail account's mailbox. */
export interface ReportSource {
  /** `imap:<mailbox id>` or `gmail:<account id>`: the `source` of the events. */
  readonly id: string;
  /** The account whose mail comes back here (a report naming no message is matched by address within it); null: a platform mailbox. */
  readonly accountId: string | null;
  /** Unique per report mail: event ids derive from it. */
  readonly reportKey: string;
  /** Records the mail as processed; false when it already was (then nothing else is done). */
  record(tx: Queryable, r: ReportRecord): Promise<boolean>;
  /** Moves the source's cursor past this mail, in the same transaction. */
  saveCursor(tx: Queryable): Promise<void>;
}

/** A report mail of an IMAP folder: recorded by (mailbox, UIDVALIDITY, UID), the UID its cursor. */
export function imapSource(mailbox: FeedbackMailbox, uidValidity: number, uid: number): ReportSource {
  return {
    id: `imap:${mailbox.id}`,
    accountId: mailbox.accountId,
    reportKey: `${mailbox.id}:${uidValidity}:${uid}`,
    record: (tx, r) => recordReport(tx, { mailboxId: mailbox.id, uidValidity, uid, ...r }),
    saveCursor: (tx) => saveMailboxCursor(tx, mailbox.id, uidValidity, uid),
  };
}

/** One report mail of an IMAP folder (see processReport). */
export function processReportMail(deps: ProcessorDeps, mailbox: FeedbackMailbox, uidValidity: number, mail: ReportMail): Promise<ProcessResult> {
  return processReport(deps, imapSource(mailbox, uidValidity, mail.uid), mail);
}

/**
 * One report mail, in one transaction: recorded as read (a mail read twice does nothing the
 * second time), matched to our messages, decided (classify's verdict; soft bounces counted),
 * the suppressions written and the events put in the outbox, the source's cursor moved on. The
 * events are published after the commit; whatever is not acknowledged stays in the outbox for
 * the reconciler. Never throws for a bad report: it is logged and skipped, the cursor moves on.
 */
export async function processReport(deps: ProcessorDeps, from: ReportSource, mail: Pick<ReportMail, 'source' | 'truncated'>): Promise<ProcessResult> {
  const at = (deps.clock ?? (() => new Date()))();
  const where: Where = { source: from.id, reportKey: from.reportKey, at };
  const logged = { source: from.id, report: from.reportKey };
  let report: ParsedReport | undefined;
  let note: string | undefined;
  try {
    report = parseReport(mail.source);
  } catch (err) {
    note = isPostbusError(err) ? err.code : (err as { code?: string }).code ?? 'parse_failed';
    deps.log.warn({ ...logged, code: note }, 'report mail not readable; skipped');
  }
  const outgoing: Outgoing[] = [];
  // Counted for /metrics once the transaction commits (a retried transaction counts once).
  let recorded: Array<{ accountId: string; kind: 'bounce' | 'complaint'; severity: string }> = [];
  const result = await deps.db.tx(async (tx) => {
    if (!report) {
      const fresh = await from.record(tx, { kind: 'unreadable', recipients: 0, matched: 0, note: note ?? 'parse_failed' });
      await from.saveCursor(tx);
      return { kind: fresh ? ('unreadable' as const) : ('seen' as const), recipients: 0, matched: 0, suppressed: 0, events: 0 };
    }
    const decisions = await decide(deps, tx, from, report, mail, where);
    const fresh = await from.record(tx, {
      kind: report.kind,
      recipients: report.recipients.length,
      matched: decisions.length,
      ...(mail.truncated || report.truncated ? { note: 'truncated' } : decisions.length === 0 && report.recipients.length > 0 ? { note: 'no message of ours matched' } : {}),
    });
    await from.saveCursor(tx);
    if (!fresh) return { kind: 'seen' as const, recipients: 0, matched: 0, suppressed: 0, events: 0 };
    let suppressed = 0;
    recorded = [];
    for (const { decision, recipient, message } of decisions) {
      const accountId = message.accountId;
      if (decision.record) {
        await recordBounce(tx, {
          eventId: decision.record.eventId,
          accountId,
          messageId: message.messageId,
          campaignId: message.campaignId,
          addressHash: addressHash(recipient),
          kind: decision.record.kind,
          severity: decision.record.severity,
          reason: decision.record.reason,
        });
        recorded.push({ accountId, kind: decision.record.kind, severity: decision.record.severity });
      }
      for (const event of decision.events) outgoing.push({ subject: subjectOf(deps.bus, event), event });
      const row = decision.suppress ? await addSuppressionRow(tx, recipient, decision.suppress.reason, SUPPRESSION_SOURCE) : null;
      if (row && decision.suppress) {
        suppressed++;
        const event = suppressedEvent(row, decision.suppress.reason, SUPPRESSION_SOURCE, accountId, message.messageId);
        outgoing.push({ subject: subjectOf(deps.bus, event), event });
      }
    }
    for (const o of outgoing) await enqueueFeedbackEvent(tx, o.subject, o.event);
    return { kind: report.kind, recipients: report.recipients.length, matched: decisions.length, suppressed, events: outgoing.length };
  });
  for (const r of recorded) (r.kind === 'complaint' ? metrics.complaint(r.accountId) : metrics.bounce(r.accountId, r.severity)).inc();
  if (outgoing.length > 0) await publishOutgoing(deps, outgoing);
  if (result.kind !== 'seen' && result.recipients > result.matched) {
    deps.log.info({ ...logged, kind: result.kind, recipients: result.recipients, matched: result.matched }, 'report names no message of ours for some recipients; those are skipped');
  }
  return result;
}

interface Decided {
  readonly decision: Decision;
  readonly recipient: string;
  readonly message: ReportedMessage & { accountId: string };
}

async function decide(deps: ProcessorDeps, tx: Queryable, from: ReportSource, report: ParsedReport, mail: Pick<ReportMail, 'source'>, where: Where): Promise<Decided[]> {
  const out: Decided[] = [];
  const top = report.headers;
  // A VERP return path names the message for certain; else the returned original's Message-ID.
  const byVerp = verpMessageId(top['x-original-to']) ?? verpMessageId(top['delivered-to']) ?? verpMessageId(top['envelope-to']) ?? verpMessageId(top['to']);
  const named = byVerp ?? ourMessageId(report.original.messageId) ?? ourMessageId(report.original.headers['message-id']);
  const byId = named ? await findReportedMessage(tx, named) : null;
  const messageFor = async (recipient: string): Promise<(ReportedMessage & { accountId: string }) | null> => {
    // A report for one of our messages names it; only a report that does not is matched by address.
    const m = byId ?? (named ? null : await lastMessageTo(tx, recipient, from.accountId));
    return m && m.accountId ? { ...m, accountId: m.accountId } : null;
  };

  // Soft bounces of the address within the rule's window, this one included (0 for any other severity).
  const softCount = async (severity: string, recipient: string): Promise<number> =>
    severity === 'soft' ? (await softBouncesSince(tx, addressHash(recipient), new Date(where.at.getTime() - (deps.softBounce ?? DEFAULT_SOFT_BOUNCE_RULE).windowMs))) + 1 : 0;

  // A mailed unsubscribe: the token in the subject says who and which message.
  const subject = top['subject'] ?? '';
  const token = TOKEN_IN_SUBJECT.exec(subject)?.[1];
  if (token && deps.tokens && (report.kind === 'unsubscribe' || report.kind === 'unknown' || report.kind === 'auto_reply')) {
    const opened = deps.tokens.open('unsub', token);
    if (opened.ok) {
      const p = opened.payload;
      const message = { messageId: p.messageId, accountId: p.accountId, campaignId: p.campaignId ?? null, recipient: p.address };
      return [{ decision: decideMailedUnsubscribe(p.address, message, where), recipient: p.address, message }];
    }
    deps.log.info({ source: from.id, report: from.reportKey }, 'unsubscribe mail with a token that does not open; skipped');
    return [];
  }

  switch (report.kind) {
    case 'complaint': {
      const recipient = report.complaint?.originalRecipient ?? report.recipients[0]?.recipient ?? byId?.recipient;
      if (!recipient) return [];
      const message = await messageFor(recipient);
      if (!message) return [];
      // The address we sent to is the one suppressed (a forwarded copy may name another).
      out.push({ decision: decideComplaint(message.recipient, message, where, { feedbackType: report.complaint?.feedbackType ?? 'abuse', userAgent: report.complaint?.userAgent }), recipient: message.recipient, message });
      return out;
    }
    case 'bounce': {
      for (const r of report.recipients) {
        const message = await messageFor(r.recipient);
        if (!message) continue;
        const recipient = message.recipient;
        const soft = await softCount(r.severity, recipient);
        out.push({ decision: decideBounce({ ...r, recipient }, message, where, soft, deps.softBounce), recipient, message });
        if (byId) break; // one recipient per message of ours
      }
      // An unhelpful report (no recipient found in it) that VERP ties to one of our messages:
      // judged by its own text, for the address that message went to.
      if (out.length === 0 && report.recipients.length === 0 && byVerp && byId?.accountId) {
        const message = { ...byId, accountId: byId.accountId };
        const verdict = classifyBounce({ diagnostic: reportText(mail.source) });
        const soft = await softCount(verdict.severity, message.recipient);
        out.push({ decision: decideBounce({ recipient: message.recipient, ...verdict }, message, where, soft, deps.softBounce), recipient: message.recipient, message });
      }
      return out;
    }
    default:
      // Delays, auto-replies and the unrecognised: read, recorded, nothing decided.
      return out;
  }
}

export function subjectOf(bus: Bus, event: FeedbackOutput): string {
  switch (event.type) {
    case 'EmailBounced':
    case 'EmailComplained':
      return bus.subjects.mail(event.accountId!, FEEDBACK_SUBJECT_TOKEN[event.type]);
    case 'Unsubscribed':
      return bus.subjects.tracking(event.accountId!, TRACKING_SUBJECT_TOKEN.Unsubscribed);
    case 'AddressSuppressed':
      return bus.subjects.suppression(suppressionShard(event.data.addressHash));
    default: {
      const never: never = event;
      throw new Error(`no subject for ${(never as PostbusEvent).type}`);
    }
  }
}

/** Publishes, then deletes from the outbox what JetStream acknowledged. Never throws. */
async function publishOutgoing(deps: ProcessorDeps, outgoing: readonly Outgoing[]): Promise<void> {
  const done: string[] = [];
  await Promise.all(
    outgoing.map(async (o) => {
      try {
        await publishEvent(deps.bus, o.subject, o.event, { timeoutMs: deps.publishTimeoutMs ?? 5_000 });
        done.push(o.event.id);
      } catch (err) {
        deps.log.warn({ eventId: o.event.id, code: isPostbusError(err) ? err.code : 'publish_failed' }, 'feedback event not published yet; the reconciler will');
      }
    }),
  );
  await removeFeedbackEvents(deps.db, done).catch((err: unknown) => deps.log.warn({ err }, 'outbox rows not removed; they are published again (same ids)'));
}

/** One reconciler pass: publishes outbox rows older than `minAgeMs`, oldest first. Returns how many were published. */
export async function reconcileOutbox(deps: ProcessorDeps, minAgeMs: number, batchSize = 100): Promise<number> {
  let published = 0;
  for (;;) {
    const n = await deps.db.tx(async (tx) => {
      const rows = await pendingFeedbackEvents(tx, minAgeMs, batchSize);
      const ok: string[] = [];
      for (const r of rows) {
        try {
          await publishEvent(deps.bus, r.subject, decodeEvent(r.event), { timeoutMs: deps.publishTimeoutMs ?? 5_000 });
          ok.push(r.id);
        } catch (err) {
          deps.log.warn({ eventId: r.id, code: isPostbusError(err) ? err.code : 'publish_failed' }, 'outbox event not published; next pass');
          break;
        }
      }
      await removeFeedbackEvents(tx, ok);
      return { rows: rows.length, ok: ok.length };
    });
    published += n.ok;
    if (n.rows < batchSize || n.ok < n.rows) return published;
  }
}
