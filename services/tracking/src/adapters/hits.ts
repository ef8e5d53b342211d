import { publishEvent, sleep, type Bus } from '@postbus/bus';
import { MAX_OPENS_PER_EVENT, TRACKING_SUBJECT_TOKEN, isPostbusError, type OpensRecorded, type RecordedOpen } from '@postbus/contracts';
import type { Logger } from '@postbus/telemetry';
import { opensRecordedEvent } from '../domain/events.js';

/** One open of one account's message. */
export interface Hit {
  readonly accountId: string;
  readonly open: RecordedOpen;
}

export interface OpenRecorderOptions {
  readonly publishTimeoutMs: number;
  /** A batch goes out this long after its first open at the latest. */
  readonly flushIntervalMs: number;
  /** …or as soon as it holds this many (of all accounts). */
  readonly maxBatch: number;
  /** Opens buffered and being published at most; one beyond is dropped (and counted), never queued without bound. */
  readonly maxPending: number;
  /** Waits before the second and later attempts of one publish. */
  readonly retryDelaysMs?: readonly number[];
}

/**
 * Opens are recorded after their pixel has gone, in batches: buffered, then published as one
 * OpensRecorded per account (at most MAX_OPENS_PER_EVENT opens each, acknowledged) every
 * `flushIntervalMs` or at `maxBatch`, so a request never waits for JetStream and the log
 * stores one message per account and flush instead of one per open. An open repeated within
 * a flush (same id: message, source and minute) goes in once. A failed publish is retried a
 * few times with the same event (its id derives from its opens' ids, so one that did land is
 * dropped as a duplicate); one that still fails loses its opens, logged — engagement is
 * measured, not owed (clicks, unlike opens, go through the outbox).
 *
 * What a crash (kill -9, OOM) can lose: the opens buffered since the last flush — at most one
 * flush interval (~100 ms) of opens — plus those of a flush not yet acknowledged. A SIGTERM
 * loses none: close() (called by app.close() in main.ts's shutdown) flushes and waits.
 */
export class OpenRecorder {
  readonly #bus: Bus;
  readonly #log: Logger;
  readonly #opts: Required<OpenRecorderOptions>;
  readonly #flushes = new Set<Promise<void>>();
  readonly #closing = new AbortController();
  #buffer: Hit[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  #dropped = 0;
  #failed = 0;
  #failedBatches = 0;

  constructor(bus: Bus, log: Logger, opts: OpenRecorderOptions) {
    this.#bus = bus;
    this.#log = log;
    this.#opts = { retryDelaysMs: [250, 1_000], ...opts };
  }

  /** Opens buffered or being published. */
  get pending(): number {
    return this.#buffer.length + this.#inFlight;
  }

  /** Opens not recorded since start: dropped for load, or failed every attempt. */
  get lost(): { dropped: number; failed: number } {
    return { dropped: this.#dropped, failed: this.#failed };
  }

  record(hit: Hit): void {
    if (this.#closing.signal.aborted || this.pending >= this.#opts.maxPending) {
      this.#dropped++;
      // One line per hundred, so a stalled log does not also flood the service's own log.
      if (this.#dropped % 100 === 1) this.#log.warn({ dropped: this.#dropped, pending: this.pending }, 'opens dropped: too many publishes pending');
      return;
    }
    this.#buffer.push(hit);
    if (this.#buffer.length >= this.#opts.maxBatch) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), this.#opts.flushIntervalMs);
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#buffer;
    if (batch.length === 0) return;
    this.#buffer = [];
    this.#inFlight += batch.length;
    const done: Promise<void> = Promise.all(batchesOf(batch).map((event) => this.#publish(event))).then(() => {
      this.#inFlight -= batch.length;
      this.#flushes.delete(done);
    });
    this.#flushes.add(done);
  }

  /** Never rejects. */
  async #publish(event: OpensRecorded): Promise<void> {
    const subject = this.#bus.subjects.tracking(event.accountId!, TRACKING_SUBJECT_TOKEN.OpensRecorded);
    const delays = this.#opts.retryDelaysMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await publishEvent(this.#bus, subject, event, { timeoutMs: this.#opts.publishTimeoutMs });
        return;
      } catch (err) {
        const delay = delays[attempt];
        if (delay === undefined || this.#closing.signal.aborted) {
          this.#failed += event.data.opens.length;
          // One line per hundred failed batches.
          if (this.#failedBatches++ % 100 === 0) {
            this.#log.warn({ type: event.type, opens: event.data.opens.length, code: isPostbusError(err) ? err.code : 'publish_failed', attempts: attempt + 1, failed: this.#failed }, 'opens not recorded');
          }
          return;
        }
        await sleep(delay, this.#closing.signal);
      }
    }
  }

  /** Stops taking opens, flushes the buffer and waits for every flush (their retries are cut short). */
  async close(): Promise<void> {
    this.#closing.abort();
    this.#flush();
    await Promise.allSettled([...this.#flushes]);
  }
}

/** One OpensRecorded per account and MAX_OPENS_PER_EVENT opens, in the order the opens came; an id seen before in this flush is left out. */
function batchesOf(hits: readonly Hit[]): OpensRecorded[] {
  const byAccount = new Map<string, { seen: Set<string>; opens: RecordedOpen[] }>();
  for (const { accountId, open } of hits) {
    let account = byAccount.get(accountId);
    if (!account) byAccount.set(accountId, (account = { seen: new Set(), opens: [] }));
    if (account.seen.has(open.id)) continue;
    account.seen.add(open.id);
    account.opens.push(open);
  }
  const events: OpensRecorded[] = [];
  for (const [accountId, { opens }] of byAccount) {
    for (let i = 0; i < opens.length; i += MAX_OPENS_PER_EVENT) events.push(opensRecordedEvent(accountId, opens.slice(i, i + MAX_OPENS_PER_EVENT)));
  }
  return events;
}
