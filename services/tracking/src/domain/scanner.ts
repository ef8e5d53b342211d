import type { HitSource } from '@postbus/contracts';

/** A click this soon after the message was composed for sending is a link scanner's. */
export const SCANNER_WINDOW_MS = 10_000;
/** Two different links of one message clicked this close together: a scanner following every link. */
export const BURST_WINDOW_MS = 2_000;

interface Seen {
  readonly url: string;
  readonly at: number;
}

/**
 * Judges a click beyond its User-Agent (domain/user-agent.ts): security gateways follow links
 * within seconds of delivery, and every link of a message at once, often with a browser's
 * User-Agent. Such clicks are recorded all the same, flagged `scanner`, so that reports can
 * show human figures beside raw ones. The burst rule sees the clicks of this process only
 * (replicas each see theirs), and the first click of a burst is judged by time alone.
 */
export class ClickJudge {
  private readonly recent = new Map<string, Seen[]>();

  constructor(private readonly maxMessages = 20_000) {}

  judge(input: { messageId: string; url: string; issuedAtSeconds?: number | undefined; byUserAgent: HitSource; nowMs: number }): HitSource {
    const { messageId, url, nowMs } = input;
    const seen = (this.recent.get(messageId) ?? []).filter((s) => nowMs - s.at < BURST_WINDOW_MS);
    let source = input.byUserAgent;
    if (source === 'human' || source === 'unknown') {
      const tooSoon = input.issuedAtSeconds !== undefined && nowMs - input.issuedAtSeconds * 1000 < SCANNER_WINDOW_MS;
      const burst = seen.some((s) => s.url !== url);
      if (tooSoon || burst) source = 'scanner';
    }
    seen.push({ url, at: nowMs });
    // Most recently used last: the oldest message is dropped first when the map is full.
    this.recent.delete(messageId);
    this.recent.set(messageId, seen.slice(-8));
    if (this.recent.size > this.maxMessages) this.recent.delete(this.recent.keys().next().value!);
    return source;
  }
}
