import { createInbox, headers, type Msg, type MsgHdrs, type Subscription } from '@nats-io/nats-core';
import type { PubAck } from '@nats-io/jetstream';
import { InfrastructureError, encodeEvent, type PostbusEvent } from '@postbus/contracts';
import type { Bus } from './connection.js';
import { mapPublishError, withTraceHeaders } from './publish-common.js';

interface Pending {
  readonly resolve: (ack: PubAck) => void;
  readonly reject: (err: Error) => void;
  readonly deadline: number;
  readonly subject: string;
}

export interface PayloadOptions {
  /** `Nats-Msg-Id`: a retry of the same fact is dropped as a duplicate. */
  readonly msgId: string;
  /** Optimistic concurrency for one aggregate: the subject's last sequence as read. 0 = subject must be empty. */
  readonly expectLastSubjectSeq?: number;
  readonly headers?: MsgHdrs;
  readonly timeoutMs?: number;
}

/**
 * JetStream publishes with acknowledgements, many in flight, at a fraction of the client's
 * per-request cost: one reply subscription (`<inbox>.<n>`) and one timer for all of them, where
 * `js.publish` makes a request object, a timer and two Errors (one with a stack) per publish —
 * measured, more than the publish itself. Each message goes with its id as `Nats-Msg-Id` (a
 * retry is dropped as a duplicate) and each promise settles only on the stream's own
 * acknowledgement, or fails (timeout, error reply, connection closed) so the caller can retry.
 * Every publish of a connection goes through one of these (`sharedPublisher`).
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
    // Often enough for a caller's shorter timeout too (a pass is a walk over what is in flight).
    this.sweep = setInterval(() => this.expire(), Math.min(250, Math.max(50, this.timeoutMs / 4)));
    this.sweep.unref();
    void bus.nc.closed().then(() => this.close());
  }

  /** In flight, not yet acknowledged. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Validates the event on its way out and publishes it with its id as `Nats-Msg-Id`; resolves
   * with the stream's acknowledgement once it has stored it (or knew it already).
   */
  publish(subject: string, event: PostbusEvent, opts: Omit<PayloadOptions, 'msgId'> = {}): Promise<PubAck> {
    let payload: Uint8Array;
    try {
      payload = encodeEvent(event);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return this.publishPayload(subject, payload, { ...opts, msgId: event.id });
  }

  /** Publishes an encoded message (the active trace context goes in its headers); resolves with the stream's acknowledgement. */
  publishPayload(subject: string, payload: Uint8Array, opts: PayloadOptions): Promise<PubAck> {
    if (this.closed) return Promise.reject(new InfrastructureError('log_unavailable', 'the publisher is closed'));
    const n = this.next++;
    return new Promise<PubAck>((resolve, reject) => {
      this.pending.set(n, { resolve, reject, deadline: Date.now() + (opts.timeoutMs ?? this.timeoutMs), subject });
      try {
        const h = opts.headers ?? headers();
        h.set('Nats-Msg-Id', opts.msgId);
        if (opts.expectLastSubjectSeq !== undefined) h.set('Nats-Expected-Last-Subject-Sequence', String(opts.expectLastSubjectSeq));
        withTraceHeaders(h);
        this.bus.nc.publish(subject, payload, { reply: `${this.prefix}${n}`, headers: h });
      } catch (err) {
        this.pending.delete(n);
        reject(mapPublishError(err, subject));
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
    let reply: { stream?: string; seq?: number; duplicate?: boolean; domain?: string; error?: { err_code?: number; description?: string } };
    try {
      reply = JSON.parse(msg.string()) as typeof reply;
    } catch (err) {
      p.reject(new InfrastructureError('log_unavailable', `an unreadable acknowledgement for ${p.subject}`, err));
      return;
    }
    if (reply.error || typeof reply.seq !== 'number') {
      p.reject(mapPublishError({ code: reply.error?.err_code, message: reply.error?.description ?? 'error' }, p.subject));
      return;
    }
    p.resolve({ stream: reply.stream ?? '', seq: reply.seq, duplicate: reply.duplicate === true, domain: reply.domain ?? '' });
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
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweep);
    this.failAll(new Error('closed'));
    if (!this.bus.nc.isClosed()) this.sub.unsubscribe();
  }
}

const shared = new WeakMap<Bus['nc'], AckedPublisher>();

/** The connection's publisher, made at its first use and closed with the connection. */
export function sharedPublisher(bus: Bus): AckedPublisher {
  let p = shared.get(bus.nc);
  if (!p) {
    p = new AckedPublisher(bus);
    shared.set(bus.nc, p);
  }
  return p;
}
