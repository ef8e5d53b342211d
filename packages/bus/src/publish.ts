import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';
import type { PubAck } from '@nats-io/jetstream';
import {
  InfrastructureError,
  PostbusError,
  encodeEvent,
  isPostbusError,
  WorkItem,
  assertValid,
  workItemMsgId,
  type PostbusEvent,
} from '@postbus/contracts';
import { injectTraceContext } from '@postbus/telemetry';
import type { Bus } from './connection.js';

export class ConcurrencyError extends PostbusError {
  constructor(subject: string, cause?: unknown) {
    super('concurrent_change', `another change to ${subject} came first`, { status: 409, retryable: true, cause });
  }
}

/** A failed read of the log: our own errors pass; what the NATS client throws means the log is away. */
export function mapReadError(err: unknown): Error {
  return isPostbusError(err) ? err : new InfrastructureError('log_unavailable', 'the event log is unavailable', err);
}

/** Maps what the NATS client throws to the error vocabulary: the caller decides ack, retry or 503. */
function mapPublishError(err: unknown, subject: string): Error {
  const e = err as { name?: string; code?: number; message?: string; status?: number };
  const message = e?.message ?? '';
  if (e?.code === 10071 || /wrong last sequence/i.test(message)) return new ConcurrencyError(subject, err);
  if ([10023, 10077, 10078, 10028].includes(e?.code ?? -1) || /insufficient resources|maximum (messages|bytes) exceeded|storage/i.test(message)) {
    return new InfrastructureError('log_full', 'the event log is full', err);
  }
  if (e?.code === 10054 || /message size exceeds/i.test(message)) {
    return new PostbusError('payload_too_large', 'message too large for the event log', { status: 413, cause: err });
  }
  return new InfrastructureError('log_unavailable', 'the event log is unavailable', err);
}

export interface PublishOptions {
  /** Optimistic concurrency for one aggregate: the subject's last sequence as read. 0 = subject must be empty. */
  readonly expectLastSubjectSeq?: number;
  readonly headers?: MsgHdrs;
  readonly timeoutMs?: number;
}

/** The active trace context (W3C `traceparent`/`tracestate`) added to the headers, if a trace is active. */
export function withTraceHeaders(h?: MsgHdrs): MsgHdrs | undefined {
  let out = h;
  injectTraceContext((key, value) => (out ??= natsHeaders()).set(key, value));
  return out;
}

/** Validates the event on its way out and publishes it with its id as `Nats-Msg-Id`. */
export async function publishEvent(bus: Bus, subject: string, event: PostbusEvent, opts: PublishOptions = {}): Promise<PubAck> {
  const payload = encodeEvent(event);
  const headers = withTraceHeaders(opts.headers);
  try {
    return await bus.js.publish(subject, payload, {
      msgID: event.id,
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
      ...(headers ? { headers } : {}),
      ...(opts.expectLastSubjectSeq !== undefined ? { expect: { lastSubjectSequence: opts.expectLastSubjectSeq } } : {}),
    });
  } catch (err) {
    throw mapPublishError(err, subject);
  }
}

/** A DISPATCH work item: its id from message, assignment and attempt. */
export async function publishWork(bus: Bus, item: WorkItem): Promise<PubAck> {
  assertValid(WorkItem, item, 'work_item_invalid');
  const subject = bus.subjects.dispatch(item.accountId);
  const headers = withTraceHeaders();
  try {
    return await bus.js.publish(subject, Buffer.from(JSON.stringify(item)), { msgID: workItemMsgId(item), ...(headers ? { headers } : {}) });
  } catch (err) {
    throw mapPublishError(err, subject);
  }
}
