import { AckedPublisher, sleep, type Bus } from '@postbus/bus';
import { isPostbusError, type EmailOpened } from '@postbus/contracts';
import type { Logger } from '@postbus/telemetry';

export interface Hit {
  readonly subject: string;
  readonly event: EmailOpened;
}

export interface OpenRecorderOptions {
  readonly publishTimeoutMs: number;
  /** A batch goes out this long after its first open at the latest. */
  readonly flushIntervalMs: number;
  /** …or as soon as it holds this many. */
  readonly maxBatch: number;
  /** Opens buffered and being published at most; one beyond is dropped (and counted), never queued without bound. */
  readonly maxPending: number;
  /** Waits before the second and later attempts of one publish. */
  readonly retryDelaysMs?: readonly number[];
}

/**
 * Opens are recorded after their pixel has gone, in batches: buffered, then published together
 * (concurrently, each acknowledged) every `flushIntervalMs` or at `maxBatch`, so a request never
 * waits for JetStream and the bus sees pipelined publishes instead of one round trip per open.
 * A failed publish is retried a few times with the same event (the same id, so one that did
 * land is dropped as a duplicate); one that still fails is lost and logged — engagement is
 * measured, not owed (clicks, unlike opens, go through the outbox).
 *
 * What a crash (kill -9, OOM) can lose: the opens buffered since the last flush — at most one
 * flush interval (~100 ms) of opens — plus those of a flush not yet acknowledged. A SIGTERM
 * loses none: close() (called by app.close() in main.ts's shutdown) flushes and waits.
 */
export class OpenRecorder {
  readonly #publisher: AckedPublisher;
  readonly #log: Logger;
  readonly #opts: Required<OpenRecorderOptions>;
  readonly #flushes = new Set<Promise<void>>();
  readonly #closing = new AbortController();
  #buffer: Hit[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  #dropped = 0;
  #failed = 0;

  constructor(bus: Bus, log: Logger, opts: OpenRecorderOptions) {
    this.#log = log;
    this.#opts = { retryDelaysMs: [250, 1_000], ...opts };
    this.#publisher = new AckedPublisher(bus, opts.publishTimeoutMs);
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
    const done: Promise<void> = Promise.all(batch.map((hit) => this.#publish(hit))).then(
      () => {
        this.#inFlight -= batch.length;
        this.#flushes.delete(done);
      },
    );
    this.#flushes.add(done);
  }

  /** Never rejects. */
  async #publish(hit: Hit): Promise<void> {
    const delays = this.#opts.retryDelaysMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#publisher.publish(hit.subject, hit.event);
        return;
      } catch (err) {
        const delay = delays[attempt];
        if (delay === undefined || this.#closing.signal.aborted) {
          this.#failed++;
          if (this.#failed % 100 === 1) {
            this.#log.warn({ type: hit.event.type, code: isPostbusError(err) ? err.code : 'publish_failed', attempts: attempt + 1, failed: this.#failed }, 'open not recorded');
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
    this.#publisher.close();
  }
}
