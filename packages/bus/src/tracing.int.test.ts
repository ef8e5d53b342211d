import { streamName, streamSpecs, bucketSpecs, type PostbusEvent, type StoredMessage } from '@postbus/contracts';
import { SpanKind, inSpan, recordSpans } from '@postbus/telemetry';
import { sharedNatsUrl, testNamespace, waitFor } from '@postbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckedPublisher } from './acked-publisher.js';
import { connectBus, type Bus } from './connection.js';
import { ensureDurable, runBatchLoop, startMessageSpans, withMessageContext } from './consume.js';
import { deleteNamespace, ensureStreams } from './provision.js';
import { publishEvent } from './publish.js';
import { openCursor } from './reader.js';

const rec = recordSpans('bus-test');
const ns = testNamespace();
let bus: Bus;

beforeAll(async () => {
  bus = await connectBus({ servers: [sharedNatsUrl()], name: 'tracing-int', namespace: ns });
  await ensureStreams(bus, streamSpecs(ns));
});

afterAll(async () => {
  await deleteNamespace(bus, streamSpecs(ns), bucketSpecs(ns));
  await bus.close();
  await rec.tracing.shutdown();
});

let n = 0;
const fault = (): PostbusEvent => ({
  id: `acc_01JAAAAAAAAAAAAAAAAAAAAAAA.fault.test.${++n}`,
  type: 'FaultReported',
  version: 1,
  occurredAt: new Date().toISOString(),
  accountId: 'acc_01JAAAAAAAAAAAAAAAAAAAAAAA',
  data: { scope: 'account', reason: 'test', nodeId: 'n1' },
});

describe('trace context through NATS headers', () => {
  it('publishEvent and AckedPublisher carry the trace; the consumer span is its child, and what it publishes stays in it', async () => {
    const stream = streamName(ns, 'OPS');
    await ensureDurable(bus, { stream, name: 'trace_test', filterSubject: bus.subjects.ops('fault'), ackWaitMs: 30_000, maxAckPending: 100 });
    const publisher = new AckedPublisher(bus);
    const [a, b] = await Promise.all([
      inSpan('request a', {}, async (s) => (await publishEvent(bus, bus.subjects.ops('fault'), fault()), s.spanContext())),
      inSpan('request b', {}, async (s) => (await publisher.publish(bus.subjects.ops('fault'), fault()), s.spanContext())),
    ]);
    const controller = new AbortController();
    const handled: string[] = [];
    const loop = runBatchLoop(bus, {
      stream,
      consumer: 'trace_test',
      batchSize: 10,
      signal: controller.signal,
      spanName: 'test process',
      onError: () => undefined,
      handle: async (batch) => {
        for (const m of batch) {
          // As the dispatcher does: each message's follow-up publish in its own context.
          await withMessageContext(m, () => inSpan('follow-up', {}, () => Promise.resolve()));
          handled.push(m.headers?.get('traceparent') ?? '');
          m.ack();
        }
      },
    });
    await waitFor(() => handled.length === 2, { timeoutMs: 10_000 });
    controller.abort();
    await loop;
    publisher.close();
    const spans = rec.spans();
    for (const origin of [a, b]) {
      const consumer = spans.find((s) => s.name === 'test process' && s.spanContext().traceId === origin.traceId);
      expect(consumer?.kind).toBe(SpanKind.CONSUMER);
      expect(consumer?.parentSpanContext?.spanId).toBe(origin.spanId);
      expect(consumer?.attributes['messaging.destination.name']).toBe(bus.subjects.ops('fault'));
      const followUp = spans.find((s) => s.name === 'follow-up' && s.spanContext().traceId === origin.traceId);
      expect(followUp?.parentSpanContext?.spanId).toBe(consumer?.spanContext().spanId);
    }
  });

  it('a replay links to the original trace instead of joining it; the ordered reader keeps the context', async () => {
    rec.reset();
    const origin = await inSpan('original', {}, async (s) => (await publishEvent(bus, bus.subjects.ops('fault'), fault()), s.spanContext()));
    const stream = streamName(ns, 'OPS');
    const cursor = await openCursor(bus, stream, 1);
    const got: StoredMessage[] = [];
    while (got.length < 3) got.push(...(await cursor.next(100, 2_000)));
    const stored = got.find((m) => m.trace?.traceparent?.includes(origin.traceId));
    await cursor.close();
    expect(stored?.trace?.traceparent).toContain(origin.spanId);
    const consumer = await bus.js.consumers.get(stream, { filter_subjects: bus.subjects.ops('fault') });
    const msgs = [];
    for await (const m of await consumer.fetch({ max_messages: 10, expires: 2_000 })) msgs.push(m);
    const mine = msgs.filter((m) => m.headers?.get('traceparent').includes(origin.traceId));
    expect(mine).toHaveLength(1);
    startMessageSpans('replay', mine, 'link').forEach((s) => s.end());
    const [replay] = rec.spans().filter((s) => s.name === 'replay');
    expect(replay?.spanContext().traceId).not.toBe(origin.traceId);
    expect(replay?.links[0]?.context.spanId).toBe(origin.spanId);
  });
});
