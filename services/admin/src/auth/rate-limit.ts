/**
 * Failed attempts per key (a client address, a user name) in a sliding window, in memory:
 * one admin instance sees its own traffic, which is what a brute-force attempt against it
 * looks like. The per-user lockout in Postgres holds across instances.
 */
export class FailureWindow {
  readonly #failures = new Map<string, number[]>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Milliseconds until the key may try again; 0 when it may now. */
  blockedFor(key: string, now: number): number {
    const times = this.#prune(key, now);
    if (times.length < this.max) return 0;
    return times[times.length - this.max]! + this.windowMs - now;
  }

  fail(key: string, now: number): void {
    const times = this.#prune(key, now);
    times.push(now);
    this.#failures.set(key, times);
    if (this.#failures.size > 100_000) this.#sweep(now);
  }

  clear(key: string): void {
    this.#failures.delete(key);
  }

  #prune(key: string, now: number): number[] {
    const times = (this.#failures.get(key) ?? []).filter((t) => t > now - this.windowMs);
    if (times.length === 0) this.#failures.delete(key);
    return times;
  }

  #sweep(now: number): void {
    for (const key of [...this.#failures.keys()]) this.#prune(key, now);
  }
}
