import type { Bus } from '@postbus/bus';
import type { LinkClicked } from '@postbus/contracts';
import { isDatabaseUnavailable, type Database } from '@postbus/db';
import type { Logger } from '@postbus/telemetry';
import { publishOutboxed, removeFromOutbox, writeOutboxed } from './outbox.js';

export interface ClickOutboxOptions {
  readonly publishTimeoutMs: number;
  /** Longest a redirect waits for the outbox row; then it goes anyway. */
  readonly writeTimeoutMs: number;
  /** Background publishes at once; beyond, a click is left to the reconciler (it is durable). */
  readonly maxPending: number;
}

const TIMED_OUT = Symbol('timed out');

/**
 * Clicks are durable before their redirect: the LinkClicked event is written into the outbox
 * (the unsubscribe's table), the redirect goes, and the event is then published and its row
 * deleted in the background; a publish that fails leaves the row to the reconciler.
 *
 * The trade-off when Postgres is away (or slower than `writeTimeoutMs`): the person is still
 * redirected — the URL was in their message — and the click is lost (logged at warn, with
 * neither URL nor token). After a timeout the insert may still commit; then the reconciler
 * publishes it after all.
 */
export class ClickOutbox {
  readonly #bus: Bus;
  readonly #db: Database;
  readonly #log: Logger;
  readonly #opts: ClickOutboxOptions;
  readonly #pending = new Set<Promise<void>>();
  #closing = false;

  constructor(bus: Bus, db: Database, log: Logger, opts: ClickOutboxOptions) {
    this.#bus = bus;
    this.#db = db;
    this.#log = log;
    this.#opts = opts;
  }

  /** True once the row is committed; false (logged) when the click is lost. Never rejects. */
  async write(event: LinkClicked): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), this.#opts.writeTimeoutMs);
    });
    try {
      const outcome = await Promise.race([writeOutboxed(this.#db, [event]), timeout]);
      if (outcome !== TIMED_OUT) return true;
      this.#log.warn({ code: 'outbox_write_timeout', timeoutMs: this.#opts.writeTimeoutMs }, 'click may be lost: outbox write too slow; redirected anyway');
      return false;
    } catch (err) {
      const code = isDatabaseUnavailable(err) ? 'database_unavailable' : 'outbox_write_failed';
      // Only the code: the error may quote the row, which carries the URL.
      this.#log.warn({ code }, 'click lost: outbox unavailable; redirected anyway');
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** After the answer: publishes a written click and deletes its row. Failures stay in the outbox. */
  publish(event: LinkClicked): void {
    if (this.#closing || this.#pending.size >= this.#opts.maxPending) return;
    const done: Promise<void> = this.#publish(event).finally(() => this.#pending.delete(done));
    this.#pending.add(done);
  }

  async #publish(event: LinkClicked): Promise<void> {
    const outcome = await publishOutboxed(this.#bus, [event], this.#opts.publishTimeoutMs);
    if (outcome.failed.length > 0) {
      this.#log.info({ code: outcome.failed[0]!.code }, 'click in the outbox, not yet appended; the reconciler retries');
      return;
    }
    await removeFromOutbox(this.#db, outcome.published).catch((err: unknown) => {
      this.#log.warn({ code: isDatabaseUnavailable(err) ? 'database_unavailable' : 'outbox_delete_failed' }, 'outbox cleanup failed; the reconciler republishes (same id)');
    });
  }

  /** Stops publishing new clicks (their rows wait for the reconciler) and waits for those in flight. */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.allSettled([...this.#pending]);
  }
}
