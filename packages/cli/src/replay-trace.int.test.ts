import { publishEvent } from '@postbus/bus';
import { newId, subjectsFor, type MailEvent } from '@postbus/contracts';
import { sharedNatsUrl, startTestEnvironment, type TestEnvironment } from '@postbus/testing';
import { inSpan, recordSpans, SpanKind } from '@postbus/telemetry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli.js';

const rec = recordSpans('postbus-cli');
let env: TestEnvironment;
const A = newId('acc');
const at = '2025-06-01T10:00:00.000Z';
/** The span each event was published in, by event id. */
const origins = new Map<string, { traceId: string; spanId: string }>();

const queued = (messageId: string): MailEvent => ({
  id: `${messageId}.1.1.queued`,
  type: 'EmailQueued',
  version: 1,
  occurredAt: at,
  accountId: A,
  messageId,
  data: { assignment: 1, attempt: 1, kind: 'bulk', to: 'someone@example.org', subject: 'Hello', requestedAt: at },
});

beforeAll(async () => {
  env = await startTestEnvironment('cli-replay-trace', { poolSize: 3 });
  const s = subjectsFor(env.ns);
  for (let i = 0; i < 3; i++) {
    const e = queued(newId('msg'));
    // Published inside a span, as the dispatcher does: its headers carry that trace.
    origins.set(e.id, await inSpan('dispatcher process', {}, async (span) => {
      await publishEvent(env.bus, s.mail(A, 'queued'), e);
      return span.spanContext();
    }));
  }
});

afterAll(async () => {
  await env.close();
});

const cli = (...argv: string[]) =>
  runCli(argv, {
    stdout: { write: () => true },
    stderr: { write: () => true },
    env: { POSTBUS_DATABASE_URL: env.testDb.url, POSTBUS_NATS_URL: sharedNatsUrl(), POSTBUS_NAMESPACE: env.ns.prefix, POSTBUS_LOG_LEVEL: 'warn' },
  });

describe('replays and rebuilds do not join the original traces: they link to them', () => {
  it.each([
    ['replay --into mail', ['replay', '--into', 'mail', '--account', A], 'projection mail replay'],
    ['projections rebuild mail', ['projections', 'rebuild', 'mail'], 'projection mail rebuild'],
  ])('%s: one CONSUMER span per event, in a new trace, linked to the span that published it', async (_label, argv, name) => {
    rec.reset();
    expect(await cli(...argv)).toBe(0);
    const spans = rec.spans().filter((s) => s.name === name);
    expect(spans).toHaveLength(origins.size);
    const linked = spans.map((s) => s.links[0]?.context.spanId).sort();
    expect(linked).toEqual([...origins.values()].map((o) => o.spanId).sort());
    for (const s of spans) {
      expect(s.kind).toBe(SpanKind.CONSUMER);
      expect(s.parentSpanContext).toBeUndefined();
      expect([...origins.values()].map((o) => o.traceId)).not.toContain(s.spanContext().traceId);
    }
  });
});
