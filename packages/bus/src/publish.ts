import type { MsgHdrs } from '@nats-io/nats-core';
import type { PubAck } from '@nats-io/jetstream';
import { InfrastructureError, encodeEvent, isPostbusError, WorkItem, assertValid, workItemMsgId, type PostbusEvent } from '@postbus/contracts';
import { sharedPublisher } from './acked-publisher.js';
import type { Bus } from './connection.js';

export { ConcurrencyError, mapPublishError, withTraceHeaders } from './publish-common.js';

/** A failed read of the log: our own errors pass; what the NATS client throws means the log is away. */
export function mapReadError(err: unknown): Error {
  return isPostbusError(err) ? err : new InfrastructureError('log_unavailable', 'the event log is unavailable', err);
}

export interface PublishOptions {
  /** Optimistic concurrency for one aggregate: the subject's last sequence as read. 0 = subject must be empty. */
  readonly expectLastSubjectSeq?: number;
  readonly headers?: MsgHdrs;
  readonly timeoutMs?: number;
}

/**
 * Validates the event on its way out and publishes it with its id as `Nats-Msg-Id`; resolves
 * with the stream's acknowledgement. Goes through the connection's shared `AckedPublisher`.
 */
export function publishEvent(bus: Bus, subject: string, event: PostbusEvent, opts: PublishOptions = {}): Promise<PubAck> {
  let payload: Uint8Array;
  try {
    payload = encodeEvent(event);
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
  return sharedPublisher(bus).publishPayload(subject, payload, { ...opts, msgId: event.id });
}

/** A DISPATCH work item: its id from message, assignment and attempt. */
export function publishWork(bus: Bus, item: WorkItem): Promise<PubAck> {
  try {
    assertValid(WorkItem, item, 'work_item_invalid');
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
  return sharedPublisher(bus).publishPayload(bus.subjects.dispatch(item.accountId), Buffer.from(JSON.stringify(item)), { msgId: workItemMsgId(item) });
}
