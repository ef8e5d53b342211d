import type { AccountState } from '@postbus/contracts';
import { getGmailCursor, markGmailPolled, processedGmailMessages, recordGmailReport, saveGmailCursor } from '@postbus/db';
import { GmailApiError, GmailConfigError } from '@postbus/transports';
import type { GmailMailbox, GmailMailboxes } from './adapters/gmail.js';
import { cursorBefore, failureAction, nextStep, resyncQuery } from './domain/gmail-sync.js';
import { processReport, type ProcessResult, type ProcessorDeps, type ReportSource } from './processor.js';

export interface GmailPollerOptions {
  /** The processor's pass interval: how long a rate-limited account waits when Google names no time. */
  readonly intervalMs: number;
  /** A full listing reads the INBOX of this many days. Default 7. */
  readonly resyncDays?: number;
  /** Messages processed per account per pass (the rest wait for the next pass). Default 500. */
  readonly maxMessagesPerPass?: number;
  /** A message is read up to this size. Default 10 MiB. */
  readonly maxReportBytes?: number;
  /** Accounts read at once. Default 4. */
  readonly concurrency?: number;
  /** Called after each message (tests, metrics). */
  readonly onReport?: (accountId: string, gmailMessageId: string, result: ProcessResult) => void;
}

export interface GmailPollerDeps extends ProcessorDeps {
  /** Every account known (the account directory); the Gmail ones not suspended are read. */
  readonly accounts: () => readonly AccountState[];
  readonly mailboxes: Pick<GmailMailboxes, 'of' | 'retain'>;
}

/** The history id of the history.list record that added a message, when it came from history. */
type Listed = { readonly id: string; readonly recordId?: string };

/**
 * The Gmail source of the bounce processor: each Gmail account's own mailbox, read through the
 * API. The first time, and whenever Google no longer has the cursor's history (404), the
 * mailbox's current history id is taken and the recent INBOX listed in full; otherwise
 * history.list from the cursor. Each new message goes through processReport as an IMAP report
 * mail does (source `gmail:<account>`, recorded in gmail_reports). A rate-limited account is
 * left alone until Google's time; any other failure is recorded on its cursor row and logged
 * once a pass; no account holds up the others.
 */
export class GmailPoller {
  private readonly notBefore = new Map<string, number>();

  constructor(private readonly deps: GmailPollerDeps, private readonly opts: GmailPollerOptions) {}

  async pass(signal?: AbortSignal): Promise<void> {
    const accounts = this.deps.accounts().filter((a) => a.provider === 'gmail' && a.status !== 'suspended');
    this.deps.mailboxes.retain(new Set(accounts.map((a) => a.id)));
    const queue = [...accounts];
    const worker = async () => {
      for (let a = queue.shift(); a && !signal?.aborted; a = queue.shift()) await this.pollAccount(a, signal);
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency ?? 4, queue.length) }, worker));
  }

  async pollAccount(account: AccountState, signal?: AbortSignal): Promise<void> {
    const now = this.now();
    if ((this.notBefore.get(account.id) ?? 0) > now) return;
    this.notBefore.delete(account.id);
    try {
      const mailbox = await this.deps.mailboxes.of(account);
      const cursor = await getGmailCursor(this.deps.db, account.id);
      let step = nextStep(cursor);
      if (step.kind === 'history') {
        try {
          await this.fromHistory(account.id, mailbox, step.from, signal);
        } catch (err) {
          if (!(err instanceof GmailApiError && err.errorCode === 'history_expired')) throw err;
          this.deps.log.info({ accountId: account.id, historyId: step.from }, 'gmail history expired: listing the recent inbox again');
          step = nextStep(cursor, true);
        }
      }
      if (step.kind === 'resync') await this.resync(account.id, mailbox, signal);
      await markGmailPolled(this.deps.db, account.id, null);
    } catch (err) {
      await this.failed(account, err);
    }
  }

  /** history.list from the cursor, a bounded number of messages a pass; the cursor moves with each. */
  private async fromHistory(accountId: string, mailbox: GmailMailbox, from: string, signal?: AbortSignal): Promise<void> {
    let budget = this.opts.maxMessagesPerPass ?? 500;
    for (let start = from, more = true; more && budget > 0 && !signal?.aborted; ) {
      const page = await mailbox.listHistory(start, { maxPages: Math.max(1, Math.ceil(budget / 500)) });
      const listed = page.added.slice(0, budget).map((a) => ({ id: a.id, recordId: a.historyId }));
      await this.processAll(accountId, mailbox, listed, signal);
      budget -= listed.length;
      if (listed.length < page.added.length || signal?.aborted) return; // the cursor stays before what is left
      await saveGmailCursor(this.deps.db, accountId, page.historyId);
      start = page.historyId;
      more = page.more;
    }
  }

  /**
   * A full listing: the current history id first (what arrives meanwhile is in history after
   * it), then the recent INBOX oldest first; the cursor is set only once all of it is done.
   */
  private async resync(accountId: string, mailbox: GmailMailbox, signal?: AbortSignal): Promise<void> {
    const start = await mailbox.currentHistoryId();
    const max = this.opts.maxMessagesPerPass ?? 500;
    const list = await mailbox.listMessages(resyncQuery(this.opts.resyncDays ?? 7), { pageSize: Math.min(max, 500), maxPages: Math.max(1, Math.ceil(max / 500)) });
    if (list.more) this.deps.log.warn({ accountId, listed: list.ids.length }, 'gmail inbox holds more recent mail than one listing reads; the oldest are skipped');
    const done = await processedGmailMessages(this.deps.db, accountId, list.ids);
    const todo = list.ids.filter((id) => !done.has(id));
    const taken = todo.slice(0, max).map((id) => ({ id }));
    await this.processAll(accountId, mailbox, taken, signal, done);
    // Not all done (the pass budget, a stop): the next pass lists again and skips what is recorded.
    if (taken.length === todo.length && !signal?.aborted) await saveGmailCursor(this.deps.db, accountId, start, { synced: true });
  }

  private async processAll(accountId: string, mailbox: GmailMailbox, listed: readonly Listed[], signal?: AbortSignal, known?: ReadonlySet<string>): Promise<void> {
    const done = known ?? (await processedGmailMessages(this.deps.db, accountId, listed.map((m) => m.id)));
    for (const m of listed) {
      if (signal?.aborted) return;
      if (done.has(m.id)) continue;
      let raw;
      try {
        raw = await mailbox.getRaw(m.id, this.opts.maxReportBytes ?? 10 * 1024 * 1024);
      } catch (err) {
        // Deleted between the listing and now: nothing to read.
        if (err instanceof GmailApiError && err.status === 404) continue;
        throw err;
      }
      const source = gmailSource(accountId, m);
      const result = await processReport(this.deps, source, { source: raw.raw, truncated: raw.truncated });
      this.opts.onReport?.(accountId, m.id, result);
    }
  }

  private async failed(account: AccountState, err: unknown): Promise<void> {
    const log = this.deps.log;
    if (err instanceof GmailApiError) {
      const action = failureAction(err.classification, this.opts.intervalMs);
      if (action.kind === 'throttled') {
        this.notBefore.set(account.id, this.now() + action.retryAfterMs);
        log.info({ accountId: account.id, retryAfterMs: action.retryAfterMs, reason: err.classification.reason }, 'gmail read quota reached: account skipped until then');
        return;
      }
      // The message is Google's answer, already scrubbed of tokens and keys by the session.
      log.warn({ accountId: account.id, call: err.call, status: err.status, googleReason: err.googleReason, reason: err.classification.reason, scope: err.classification.scope }, 'gmail mailbox not read; trying again next pass');
      await markGmailPolled(this.deps.db, account.id, err.message.slice(0, 300)).catch(() => undefined);
      return;
    }
    // A key no longer accepted names the field, never its value; anything else: name and message only.
    const text = err instanceof GmailConfigError ? err.message : err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 300) : 'unknown error';
    log.warn({ accountId: account.id, error: text }, 'gmail mailbox not read; trying again next pass');
    await markGmailPolled(this.deps.db, account.id, text).catch(() => undefined);
  }

  private now(): number {
    return (this.deps.clock ?? (() => new Date()))().getTime();
  }
}

/** A Gmail message as a report mail: recorded by (account, Gmail id); from history, the cursor moves to just before its record. */
export function gmailSource(accountId: string, m: Listed): ReportSource {
  return {
    id: `gmail:${accountId}`,
    accountId,
    reportKey: `gmail:${accountId}:${m.id}`,
    record: (tx, r) => recordGmailReport(tx, { accountId, gmailMessageId: m.id, ...r }),
    saveCursor: async (tx) => {
      if (m.recordId) await saveGmailCursor(tx, accountId, cursorBefore(m.recordId));
    },
  };
}
