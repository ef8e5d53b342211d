import { createInbox, headers, type Msg, type Subscription } from '@nats-io/nats-core';
import { InfrastructureError, PostbusError, encodeEvent, type PostbusEvent } from '@postbus/contracts';
import type { Bus } from './connection.js';
import { withTraceHeaders } from './publish.js';

interface Pending {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly deadline: number;
  readonly subject: string;
}

/**
 * JetStream publishes with acknowledgements, many in flight, at a fraction of the client's
 * per-request cost: one reply subscription (`<inbox>.<n>`) and one timer for all of them, where
 * `js.publish` makes a request object, a timer and an Error per publish. Each event still goes
 * with its id as `Nats-Msg-Id` (a retry is dropped as a duplicate) and each promise settles only
 * on the stream's own acknowledgement, or fails (timeout, error reply, connection closed) so the
 * caller can retry. No expected-sequence checks: aggregates publish through `publishEvent`.
 */
export class AckedPublisher {
  private readonly prefix = `${createInbox()}.`;
  private readonly pending = new Map<number, Pending>();
  private readonly sub: Subscription;
  private readonly sweep: NodeJS.Timeout;
  private next = 0;
  private closed = false;

  constructor(private readonly bus: Bus, private readonly timeoutMs = 10_000) {
    this.sub = bus.nc.subscribe(`${this.prefix}*`, { callback: (err, msg) => (err ? this.failAll(err) : this.onAck(msg)) });
    this.sweep = setInterval(() => this.expire(), Math.min(1_000, Math.max(50, this.timeoutMs / 4)));
    this.sweep.unref();
  }

  /** In flight, not yet acknowledged. */
  get size(): number {
    return this.pending.size;
  }

  /** Validates and publishes the event; resolves once the stream has stored it (or knew it already). */
  publish(subject: string, event: PostbusEvent): Promise<void> {
    let payload: Uint8Array;
    try {
      payload = encodeEvent(event);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (this.closed) return Promise.reject(new InfrastructureError('log_unavailable', 'the publisher is closed'));
    const n = this.next++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(n, { resolve, reject, deadline: Date.now() + this.timeoutMs, subject });
      try {
        const h = headers();
        h.set('Nats-Msg-Id', event.id);
        withTraceHeaders(h);
        this.bus.nc.publish(subject, payload, { reply: `${this.prefix}${n}`, headers: h });
      } catch (err) {
        this.pending.delete(n);
        reject(new InfrastructureError('log_unavailable', 'the event log is unavailable', err));
      }
    });
  }

  private onAck(msg: Msg): void {
    const n = Number(msg.subject.slice(this.prefix.length));
    const p = this.pending.get(n);
    if (!p) return; // timed out already
    this.pending.delete(n);
    // `{"stream":…,"seq":…}` — or `{"error":{…}}`, or a no-responders status (no stream takes the subject).
    if (msg.headers?.hasError) {
      p.reject(new InfrastructureError('log_unavailable', `no stream stored ${p.subject} (${msg.headers.code})`));
      return;
    }
    const text = msg.string();
    if (!text.includes('"error"')) {
      p.resolve();
      return;
    }
    let description = 'error';
    try {
      description = (JSON.parse(text) as { error?: { description?: string } }).error?.description ?? description;
    } catch {
      // not JSON: keep the generic text
    }
    p.reject(/maximum|storage|resources/i.test(description) ? new InfrastructureError('log_full', 'the event log is full') : new PostbusError('publish_refused', `the stream refused ${p.subject}: ${description}`, { status: 503, retryable: true }));
  }

  private expire(): void {
    const now = Date.now();
    for (const [n, p] of this.pending) {
      if (p.deadline > now) continue;
      this.pending.delete(n);
      p.reject(new InfrastructureError('log_unavailable', 'the event log did not acknowledge in time'));
    }
  }

  private failAll(err: unknown): void {
    for (const [n, p] of this.pending) {
      this.pending.delete(n);
      p.reject(new InfrastructureError('log_unavailable', 'the event log is unavailable', err));
    }
  }

  /** Fails what is still waiting and stops listening. */
  close(): void {
    this.closed = true;
    clearInterval(this.sweep);
    this.failAll(new Error('closed'));
    this.sub.unsubscribe();
  }
}
