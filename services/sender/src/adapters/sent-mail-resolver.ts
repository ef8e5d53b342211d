import { sleep } from '@postbus/bus';
import type { MailEvent } from '@postbus/contracts';
import { GMAIL_REPLY, resolveUncertainSent, type Database } from '@postbus/db';
import type { Logger } from '@postbus/telemetry';
import { outcomeEvent } from '../domain/events.js';
import { afterLookup, type LookupResult, type LookupTiming, type PendingLookup } from '../domain/sent-lookup.js';

export interface SentMailResolverDeps {
  readonly db: Database;
  readonly log: Logger;
  readonly clock: () => Date;
  readonly accountId: string;
  readonly epoch: number;
  readonly timing: LookupTiming;
  /** The message's Message-ID header (derived from its id and the account's From domain). */
  readonly headerMessageIdOf: (messageId: string) => string;
  /** Gmail's id of that Message-ID in Sent, or null; throws when the search itself failed. */
  readonly findSent: (headerMessageId: string) => Promise<string | null>;
  readonly publish: (event: MailEvent) => Promise<void>;
}

interface Entry extends PendingLookup {
  readonly nextAt: Date;
}

/**
 * Settles a Gmail account's `uncertain` sends from its Sent mail, in the background of the
 * account's worker: found → `sent` in the ledger (fenced by the worker's epoch) and the usual
 * EmailSent; not found once the window has passed → left `uncertain`; a failed search → tried
 * again later. Nothing here ever sends.
 */
export class SentMailResolver {
  private readonly pending = new Map<string, Entry>();

  constructor(private readonly deps: SentMailResolverDeps) {}

  get size(): number {
    return this.pending.size;
  }

  add(p: Omit<PendingLookup, 'failures'>): void {
    if (!this.pending.has(p.messageId)) this.pending.set(p.messageId, { ...p, failures: 0, nextAt: new Date(0) });
  }

  /** Looks up every message that is due, one after another. */
  async runOnce(signal?: AbortSignal): Promise<void> {
    for (const entry of [...this.pending.values()]) {
      if (signal?.aborted) return;
      if (entry.nextAt > this.deps.clock()) continue;
      await this.lookUp(entry);
    }
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.runOnce(signal);
      } catch (err) {
        // The database away while recording: the entry stays and is tried again.
        this.deps.log.warn({ err }, 'sent-mail lookup pass failed; trying again');
      }
      await sleep(this.deps.timing.intervalMs, signal).catch(() => undefined);
    }
  }

  private async lookUp(entry: Entry): Promise<void> {
    const { log, clock } = this.deps;
    const headerMessageId = this.deps.headerMessageIdOf(entry.messageId);
    let result: LookupResult;
    try {
      const gmailId = await this.deps.findSent(headerMessageId);
      result = gmailId ? { kind: 'found', gmailId } : { kind: 'not_found' };
    } catch (err) {
      log.warn({ messageId: entry.messageId, err: (err as Error).message }, 'sent-mail lookup failed; trying again later');
      result = { kind: 'failed' };
    }
    const now = clock();
    const step = afterLookup(entry, result, now, this.deps.timing);
    switch (step.kind) {
      case 'look_again':
        this.pending.set(entry.messageId, { ...entry, nextAt: step.at, failures: step.failures });
        return;
      case 'stays_uncertain':
        log.warn({ messageId: entry.messageId }, 'not in Sent mail after the lookup window: stays uncertain (never resent)');
        this.pending.delete(entry.messageId);
        return;
      case 'record_sent': {
        const reply = GMAIL_REPLY.format(step.gmailId);
        const row = await resolveUncertainSent(this.deps.db, { accountId: this.deps.accountId, epoch: this.deps.epoch, messageId: entry.messageId, headerMessageId, reply });
        this.pending.delete(entry.messageId);
        if (!row) return; // no longer uncertain, or another worker owns the account now
        log.info({ messageId: entry.messageId, gmailId: step.gmailId }, 'uncertain send found in Sent mail: recorded sent');
        const ref = { accountId: this.deps.accountId, messageId: entry.messageId, assignment: row.assignment, attempt: row.attempt };
        const outcome = { kind: 'sent' as const, messageId: entry.messageId, headerMessageId, reply, providerMessageId: step.gmailId };
        const event = outcomeEvent(ref, outcome, now, row.sendingAt ?? entry.sendingAt);
        // The ledger has it now; the event (same id whoever publishes it) follows, tried a few times.
        for (let i = 0; ; i++) {
          try {
            await this.deps.publish(event);
            return;
          } catch (err) {
            if (i >= 4) {
              log.error({ err, messageId: entry.messageId }, 'sent event not published: the ledger says sent, the log still uncertain');
              return;
            }
            await sleep(1_000 * (i + 1)).catch(() => undefined);
          }
        }
      }
      default: {
        const never: never = step;
        return never;
      }
    }
  }
}
