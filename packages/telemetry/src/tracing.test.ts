import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './index.js';
import { routeTemplate, scrubAttributes, scrubText } from './scrub.js';
import { SpanKind, extractTraceContext, inLinkedSpan, inSpan, injectTraceContext, recordSpans, startConsumerSpan, trace } from './tracing.js';

const rec = recordSpans('telemetry-test');

describe('span attribute scrubber', () => {
  it('blanks addresses inside any value, drops secret-named attributes, keeps the route template of URLs', () => {
    expect(scrubText('rcpt to <Jane.Doe+x@Example.co.uk> refused')).toBe('rcpt to <[address]> refused');
    expect(
      scrubAttributes({
        'postbus.account.id': 'acc_1',
        'smtp.reply_code': 250,
        'exception.message': 'no such user: bob@example.test',
        'smtp.password': 'hunter2',
        'http.request.header.authorization': ['Bearer x'],
        'url.full': 'https://t.example/track/open/eyJhbGciOi.payload123.sig?u=a@b.test',
        'url.path': '/unsubscribe/AbCdEf0123456789xyz',
        'url.query': 'token=abc',
        'http.route': '/track/click/v1.ZXhhbXBsZTEyMw.c2ln',
      }),
    ).toEqual({
      'postbus.account.id': 'acc_1',
      'smtp.reply_code': 250,
      'exception.message': 'no such user: [address]',
      'smtp.password': '[redacted]',
      'http.request.header.authorization': '[redacted]',
      'url.full': 'https://t.example/track/open/:token',
      'url.path': '/unsubscribe/:token',
      'http.route': '/track/click/:token',
    });
    expect(routeTemplate('/v1/messages/msg_01JAAAAAAAAAAAAAAAAAAAAAAA/timeline')).toBe('/v1/messages/:id/timeline');
    expect(routeTemplate('/v1/messages')).toBe('/v1/messages');
    expect(routeTemplate('http://user:pw@h:1/x?y')).toBe('http://h:1/x');
    // A webhook whose path is its secret; words stay words.
    expect(routeTemplate('https://hooks.example/services/T0/B0/AbCdEfGhIjKlMnOpQrStUvWx')).toBe('https://hooks.example/services/T0/B0/:token');
    expect(routeTemplate('/gmail/v1/users/me/messages/send')).toBe('/gmail/v1/users/me/messages/send');
    // URLs inside free text lose their query; encoded addresses are addresses.
    expect(scrubText('request to https://h.example/a?key=s3cret failed')).toBe('request to https://h.example/a failed');
    expect(scrubText('/gmail/v1/users/jo%40ex.co/profile')).toBe('/gmail/v1/users/[address]/profile');
  });

  it('scrubs every span before an exporter sees it: attributes, events, status and name', async () => {
    rec.reset();
    await inSpan('send to a@b.test', { to: 'a@b.test', 'smtp.pass': 'p' }, async (span) => {
      span.addEvent('rcpt', { detail: '550 c@d.test unknown' });
      span.recordException(new Error('user e@f.test unknown'));
      span.setStatus({ code: 2, message: 'g@h.test' });
      await Promise.resolve();
    });
    const [span] = rec.spans();
    const seen = JSON.stringify({ name: span!.name, attributes: span!.attributes, events: span!.events, status: span!.status });
    expect(seen).not.toMatch(/@[a-z]\.test/);
    expect(seen).not.toContain('"p"');
    expect(span!.attributes).toEqual({ to: '[address]', 'smtp.pass': '[redacted]' });
  });
});

describe('trace context', () => {
  it('goes through headers: a consumer span continues the trace (child) or links to it (replay)', async () => {
    rec.reset();
    const headers = new Map<string, string>();
    const origin = await inSpan('publish', {}, async (span) => {
      injectTraceContext((k, v) => headers.set(k, v));
      return Promise.resolve(span.spanContext());
    });
    expect(headers.get('traceparent')).toContain(origin.traceId);
    const carried = extractTraceContext((k) => headers.get(k));
    const child = startConsumerSpan('consume', carried);
    child.span.end();
    expect(child.span.spanContext().traceId).toBe(origin.traceId);
    expect(trace.getSpan(child.ctx)).toBe(child.span);
    const replay = startConsumerSpan('replay', carried, {}, 'link');
    replay.span.end();
    const r = rec.spans().find((s) => s.name === 'replay')!;
    expect(r.spanContext().traceId).not.toBe(origin.traceId);
    expect(r.parentSpanContext).toBeUndefined();
    expect(r.links.map((l) => l.context.spanId)).toEqual([origin.spanId]);
    expect(r.kind).toBe(SpanKind.CONSUMER);
  });

  it('a publish made for many messages starts a trace of its own, linked to each message, and what it publishes carries that trace', async () => {
    rec.reset();
    const a = startConsumerSpan('a', extractTraceContext(() => undefined));
    const b = startConsumerSpan('b', extractTraceContext(() => undefined));
    a.span.end();
    b.span.end();
    const headers = new Map<string, string>();
    await inLinkedSpan('sends publish', [a.ctx, b.ctx], { 'messaging.batch.message_count': 2 }, async () => {
      injectTraceContext((k, v) => headers.set(k, v));
      return Promise.resolve();
    });
    const s = rec.spans().find((x) => x.name === 'sends publish')!;
    expect(s.kind).toBe(SpanKind.PRODUCER);
    expect(s.parentSpanContext).toBeUndefined();
    expect(s.links.map((l) => l.context.spanId)).toEqual([a.span.spanContext().spanId, b.span.spanContext().spanId]);
    expect(headers.get('traceparent')).toContain(s.spanContext().spanId);
  });
});

describe('log mixin', () => {
  it('puts trace_id and span_id on lines written inside a span, and nothing outside', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    });
    const log = createLogger({ service: 't', destination });
    log.info('outside');
    const ids = await inSpan('work', {}, async (span) => {
      log.info('inside');
      return Promise.resolve(span.spanContext());
    });
    await new Promise((r) => setImmediate(r));
    expect(lines[0]).not.toHaveProperty('trace_id');
    expect(lines[1]).toMatchObject({ trace_id: ids.traceId, span_id: ids.spanId, msg: 'inside' });
  });
});
