/** Time for the pacer; tests pass a fake one whose sleep moves its clock. */
export interface PacingClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: PacingClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * A token bucket: `perMinute` sends a minute, at most `burst` at once. Callers queue in
 * order. Any 60 s window holds at most burst + perMinute sends, so a burst of 1 (the
 * default) keeps to the provider's per-minute quota and spaces sends evenly.
 */
export class SendPacer {
  private tokens: number;
  private last: number;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly perMinute: number,
    readonly burst: number = 1,
    private readonly clock: PacingClock = realClock,
  ) {
    if (!(perMinute > 0) || !(burst >= 1)) throw new RangeError('pacing needs perMinute > 0 and burst >= 1');
    this.tokens = burst;
    this.last = clock.now();
  }

  /** Waits for a slot; resolves with how long it waited (ms). */
  take(): Promise<number> {
    const turn = this.queue.then(() => this.takeNow());
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async takeNow(): Promise<number> {
    let waited = 0;
    for (;;) {
      const now = this.clock.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perMinute) / 60_000);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return waited;
      }
      const ms = Math.ceil(((1 - this.tokens) * 60_000) / this.perMinute);
      await this.clock.sleep(ms);
      waited += ms;
    }
  }
}
