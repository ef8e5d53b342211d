import { publishEvent, sleep, type Bus } from '@postbus/bus';
import { isPostbusError, type EmailOpened, type LinkClicked } from '@postbus/contracts';
import type { Logger } from '@postbus/telemetry';

export interface Hit {
  readonly subject: string;
  readonly event: EmailOpened | LinkClicked;
}

export interface HitRecorderOptions {
  readonly publishTimeoutMs: number;
  /** Publishes in flight at most; a hit beyond this is dropped (and counted), never queued without bound. */
  readonly maxPending: number;
  /** Waits before the second and later attempts. */
  readonly retryDelaysMs?: readonly number[];
}

/**
 * Opens and clicks are recorded after their answer has gone: the pixel and the redirect never
 * wait for JetStream. A failed publish is retried a few times with the same event (the same
 * id, so a publish that did land is dropped as a duplicate); a hit that still fails is lost
 * and logged — engagement is measured, not owed, unlike an unsubscribe, which has an outbox.
 */
export class HitRecorder {
  readonly #bus: Bus;
  readonly #log: Logger;
  readonly #opts: Required<HitRecorderOptions>;
  readonly #pending = new Set<Promise<void>>();
  readonly #closing = new AbortController();
  #dropped = 0;
  #failed = 0;

  constructor(bus: Bus, log: Logger, opts: HitRecorderOptions) {
    this.#bus = bus;
    this.#log = log;
    this.#opts = { retryDelaysMs: [250, 1_000], ...opts };
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** Hits not recorded since start: dropped for load, or failed every attempt. */
  get lost(): { dropped: number; failed: number } {
    return { dropped: this.#dropped, failed: this.#failed };
  }

  record(hit: Hit): void {
    if (this.#closing.signal.aborted || this.#pending.size >= this.#opts.maxPending) {
      this.#dropped++;
      // One line per hundred, so a stalled log does not also flood the service's own log.
      if (this.#dropped % 100 === 1) this.#log.warn({ dropped: this.#dropped, pending: this.#pending.size }, 'tracking hits dropped: too many publishes pending');
      return;
    }
    const done: Promise<void> = this.#publish(hit).finally(() => this.#pending.delete(done));
    this.#pending.add(done);
  }

  async #publish(hit: Hit): Promise<void> {
    const delays = this.#opts.retryDelaysMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await publishEvent(this.#bus, hit.subject, hit.event, { timeoutMs: this.#opts.publishTimeoutMs });
        return;
      } catch (err) {
        const delay = delays[attempt];
        if (delay === undefined || this.#closing.signal.aborted) {
          this.#failed++;
          this.#log.warn({ type: hit.event.type, code: isPostbusError(err) ? err.code : 'publish_failed', attempts: attempt + 1 }, 'tracking hit not recorded');
          return;
        }
        await sleep(delay, this.#closing.signal);
      }
    }
  }

  /** Stops taking hits and waits for those in flight (their retries are cut short). */
  async close(): Promise<void> {
    this.#closing.abort();
    await Promise.allSettled([...this.#pending]);
  }
}
