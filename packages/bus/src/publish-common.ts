import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';
import { InfrastructureError, PostbusError } from '@postbus/contracts';
import { injectTraceContext } from '@postbus/telemetry';

export class ConcurrencyError extends PostbusError {
  constructor(subject: string, cause?: unknown) {
    super('concurrent_change', `another change to ${subject} came first`, { status: 409, retryable: true, cause });
  }
}

/**
 * Maps a refused or failed publish (what the NATS client throws, or a JetStream error reply's
 * `err_code` and description) to the error vocabulary: the caller decides ack, retry or 503.
 */
export function mapPublishError(err: unknown, subject: string): Error {
  const e = err as { name?: string; code?: number; message?: string; status?: number };
  const message = e?.message ?? '';
  if (e?.code === 10071 || /wrong last sequence/i.test(message)) return new ConcurrencyError(subject, err);
  if ([10023, 10077, 10078, 10028].includes(e?.code ?? -1) || /insufficient resources|maximum (messages|bytes) exceeded|storage/i.test(message)) {
    return new InfrastructureError('log_full', 'the event log is full', err);
  }
  if (e?.code === 10054 || /message size exceeds|max.?payload/i.test(message)) {
    return new PostbusError('payload_too_large', 'message too large for the event log', { status: 413, cause: err });
  }
  return new InfrastructureError('log_unavailable', 'the event log is unavailable', err);
}

/** The active trace context (W3C `traceparent`/`tracestate`) added to the headers, if a trace is active. */
export function withTraceHeaders(h?: MsgHdrs): MsgHdrs | undefined {
  let out = h;
  injectTraceContext((key, value) => (out ??= natsHeaders()).set(key, value));
  return out;
}
