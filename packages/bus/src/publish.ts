import type { PubAck } from '@nats-io/jetstream';
import { InfrastructureError, isPostbusError, WorkItem, assertValid, workItemMsgId, type PostbusEvent } from '@postbus/contracts';
import { sharedPublisher, type PayloadOptions } from './acked-publisher.js';
import type { Bus } from './connection.js';

export { ConcurrencyError, mapPublishError, withTraceHeaders } from './publish-common.js';

/** A failed read of the log: our own errors pass; what the NATS client throws means the log is away. */
export function mapReadError(err: unknown): Error {
  return isPostbusError(err) ? err : new InfrastructureError('log_unavailable', 'the event log is unavailable', err);
}

/** What a publish of an event may add: its id is the event's. */
export type PublishOptions = Omit<PayloadOptions, 'msgId'>;

/**
 * Validates the event on its way out and publishes it with its id as `Nats-Msg-Id`; resolves
 * with the stream's acknowledgement. Goes through the connection's shared `AckedPublisher`.
 */
export function publishEvent(bus: Bus, subject: string, event: PostbusEvent, opts: PublishOptions = {}): Promise<PubAck> {
  return sharedPublisher(bus).publish(subject, event, opts);
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
