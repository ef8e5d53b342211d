import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpanKind, SpanStatusCode, inSpan, recordSpans } from './tracing.js';

const rec = recordSpans('fetch-test');
const SECRET = 's3cret-in-the-query';
const BEARER = 'Bearer ya29.an-access-token';
// A webhook whose path is its secret (Slack's shape): mixed case, no digit.
const PATH_SECRET = 'AbCdEfGhIjKlMnOpQrStUvWx';

describe('fetch (undici) spans', () => {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(req.url?.startsWith('/fail') ? 503 : 200, { 'content-type': 'application/json' }).end('{}');
  });
  let base = '';
  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('a fetch inside a span is its CLIENT child, carries traceparent, and keeps no query, token or address', async () => {
    rec.reset();
    seen.length = 0;
    const parent = await inSpan('gmail.send', {}, async (span) => {
      const res = await fetch(`${base}/hooks/T0/${PATH_SECRET}?key=${SECRET}&to=jane%40example.test`, {
        method: 'POST',
        headers: { authorization: BEARER, 'content-type': 'application/json' },
        body: '{"to":"jane@example.test"}',
      });
      await res.text();
      return span.spanContext();
    });
    const client = rec.spans().find((s) => s.kind === SpanKind.CLIENT)!;
    expect(client).toBeDefined();
    expect(client.parentSpanContext?.spanId).toBe(parent.spanId);
    expect(client.spanContext().traceId).toBe(parent.traceId);
    // The receiver got the client span's context: its own spans join the trace.
    expect(seen[0]?.traceparent).toBe(`00-${parent.traceId}-${client.spanContext().spanId}-01`);
    expect(client.attributes).toMatchObject({ 'http.request.method': 'POST', 'url.full': `${base}/hooks/T0/:token`, 'url.path': '/hooks/T0/:token', 'http.response.status_code': 200 });
    expect(client.attributes).not.toHaveProperty('url.query');
    const exported = JSON.stringify(rec.spans().map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status })));
    for (const secret of [SECRET, 'ya29', PATH_SECRET, 'jane', 'example.test']) expect(exported).not.toContain(secret);
  });

  it('a fetch outside any trace starts one of its own (the alert webhook retried by a timer); a failure keeps its URL scrubbed', async () => {
    rec.reset();
    seen.length = 0;
    await (await fetch(`${base}/fail?key=${SECRET}`)).text();
    // (The receiver's own SERVER span, from the http instrumentation, is a child of it.)
    const span = rec.spans().find((s) => s.kind === SpanKind.CLIENT);
    expect(span?.kind).toBe(SpanKind.CLIENT);
    expect(span?.parentSpanContext).toBeUndefined();
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(seen[0]?.traceparent).toContain(span!.spanContext().traceId);
    const server = rec.spans().find((s) => s.kind === SpanKind.SERVER);
    expect(server?.parentSpanContext?.spanId).toBe(span!.spanContext().spanId);

    rec.reset();
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await expect(fetch(`http://127.0.0.1:${port}/x?key=${SECRET}`)).rejects.toThrow();
    const failed = rec.spans().find((s) => s.kind === SpanKind.CLIENT);
    expect(failed?.status.code).toBe(SpanStatusCode.ERROR);
    expect(JSON.stringify({ a: failed?.attributes, e: failed?.events, s: failed?.status })).not.toContain(SECRET);
  });
});
