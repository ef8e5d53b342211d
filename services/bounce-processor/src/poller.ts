import { publishEvent } from '@postbus/bus';
import { derivedId, type FaultReported } from '@postbus/contracts';
import { accountRates, getSecret, listMailboxes, markMailboxPolled, type FeedbackMailbox, type SecretCipher } from '@postbus/db';
import { metrics } from '@postbus/telemetry';
import { readNewMessages, type ImapSettings } from './adapters/imap.js';
import { DEFAULT_THRESHOLDS, rateFaults, type RateThresholds } from './domain/rates.js';
import { processReportMail, reconcileOutbox, type ProcessResult, type ProcessorDeps } from './processor.js';

export interface PollerOptions {
  /** Pause between passes over the mailboxes. */
  readonly intervalMs: number;
  /** Report mails read per mailbox per pass. */
  readonly batchSize?: number;
  /** A report mail is read up to this size (a bigger one is cut and flagged). */
  readonly maxReportBytes?: number;
  readonly imapTimeoutMs?: number;
  readonly rejectUnauthorized?: boolean;
  readonly thresholds?: RateThresholds;
  /** This process, in the faults it reports. */
  readonly instanceId: string;
  /** Called after each report mail (tests, metrics). */
  readonly onReport?: (mailbox: FeedbackMailbox, uid: number, result: ProcessResult) => void;
}

export interface PollerDeps extends ProcessorDeps {
  readonly cipher: SecretCipher;
  /** Gmail accounts' own mailboxes (gmail-poller.ts), read after the IMAP ones each pass. */
  readonly gmail?: { pass(signal?: AbortSignal): Promise<void> };
}

/**
 * The bounce processor's loop: every interval, each mailbox is read from its cursor and each
 * new report mail processed (processor.ts), then the Gmail accounts' mailboxes; then the outbox is reconciled and the accounts'
 * 24 h rates measured. A mailbox that fails (refused login, unreachable) is recorded with
 * its error and tried again next pass; the others go on.
 */
export class FeedbackPoller {
  private readonly wake = { fn: undefined as (() => void) | undefined };
  constructor(private readonly deps: PollerDeps, private readonly opts: PollerOptions) {}

  /** Starts the next pass now (tests; an admin adding a mailbox). */
  poke(): void {
    this.wake.fn?.();
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.pass(signal);
      } catch (err) {
        this.deps.log.warn({ err }, 'feedback pass failed; trying again');
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, this.opts.intervalMs);
        const self = this.wake;
        function done() {
          clearTimeout(t);
          self.fn = undefined;
          signal.removeEventListener('abort', done);
          resolve();
        }
        self.fn = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  async pass(signal?: AbortSignal): Promise<void> {
    for (const mailbox of await listMailboxes(this.deps.db)) {
      if (signal?.aborted) return;
      await this.pollMailbox(mailbox, signal);
    }
    if (this.deps.gmail && !signal?.aborted) await this.deps.gmail.pass(signal);
    await reconcileOutbox(this.deps, 10_000);
    await this.checkRates();
  }

  private async pollMailbox(mailbox: FeedbackMailbox, signal?: AbortSignal): Promise<void> {
    let cursor = { uidValidity: mailbox.uidValidity, afterUid: mailbox.lastUid };
    try {
      const settings: ImapSettings = {
        host: mailbox.host,
        port: mailbox.port,
        tls: mailbox.tls,
        user: mailbox.username,
        password: await getSecret(this.deps.db, this.deps.cipher, mailbox.secretId),
        folder: mailbox.folder,
        ...(this.opts.imapTimeoutMs ? { timeoutMs: this.opts.imapTimeoutMs } : {}),
        ...(this.opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: this.opts.rejectUnauthorized } : {}),
      };
      for (let more = true; more && !signal?.aborted; ) {
        const read = await readNewMessages(settings, cursor, { limit: this.opts.batchSize ?? 200, maxBytes: this.opts.maxReportBytes ?? 10 * 1024 * 1024 });
        if (cursor.uidValidity !== null && read.uidValidity !== cursor.uidValidity) {
          this.deps.log.warn({ mailbox: mailbox.id, was: cursor.uidValidity, now: read.uidValidity }, 'folder UIDVALIDITY changed: reading it from the start (reports already read are skipped by content only if they kept their UIDs)');
        }
        for (const m of read.messages) {
          const result = await processReportMail(this.deps, mailbox, read.uidValidity, m);
          this.opts.onReport?.(mailbox, m.uid, result);
          cursor = { uidValidity: read.uidValidity, afterUid: m.uid };
        }
        cursor = { uidValidity: read.uidValidity, afterUid: cursor.afterUid };
        more = read.more;
      }
      await markMailboxPolled(this.deps.db, mailbox.id, null);
    } catch (err) {
      // The error text of an IMAP client never holds the password (imapflow reports the server's answer).
      const text = err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 300) : 'unknown error';
      this.deps.log.warn({ mailbox: mailbox.id, host: mailbox.host, error: text }, 'mailbox not read; trying again next pass');
      await markMailboxPolled(this.deps.db, mailbox.id, text).catch(() => undefined);
    }
  }

  /** Rates over the last 24 h → FaultReported for the leader (one per account, reason and hour). */
  async checkRates(now = new Date()): Promise<FaultReported[]> {
    const since = new Date(now.getTime() - 86_400_000);
    const faults: FaultReported[] = [];
    const thresholds = this.opts.thresholds ?? DEFAULT_THRESHOLDS;
    for (const r of await accountRates(this.deps.db, since)) {
      // Exported only once judged (the minimum sample): a handful of sends says little.
      if (r.sent >= thresholds.minSample) {
        metrics.bounceRate.labels(r.accountId).set(r.hard / r.sent);
        metrics.complaintRate.labels(r.accountId).set(r.complaints / r.sent);
      } else {
        metrics.bounceRate.remove(r.accountId);
        metrics.complaintRate.remove(r.accountId);
      }
      for (const f of rateFaults(r, this.opts.thresholds ?? DEFAULT_THRESHOLDS)) {
        const event: FaultReported = {
          id: derivedId('evt', 'rate', f.accountId, f.reason, Math.floor(now.getTime() / 3_600_000)),
          type: 'FaultReported',
          version: 1,
          occurredAt: now.toISOString(),
          accountId: f.accountId,
          data: { scope: 'account', reason: f.reason, detail: f.detail, nodeId: this.opts.instanceId },
        };
        try {
          await publishEvent(this.deps.bus, this.deps.bus.subjects.ops('fault'), event);
          faults.push(event);
          this.deps.log.warn({ accountId: f.accountId, reason: f.reason, detail: f.detail }, 'account rate over its threshold: reported');
        } catch (err) {
          this.deps.log.warn({ err, accountId: f.accountId }, 'rate fault not reported; next pass');
        }
      }
    }
    return faults;
  }
}

