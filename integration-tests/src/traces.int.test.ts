import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@postbus/testing';
import { SMTP_PASSWORD, registerAccount, startWorld, type World } from './fixtures.js';

/** One span as OTLP/HTTP JSON carries it (ids in hex), with its service. */
interface CollectedSpan {
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes: Record<string, unknown>;
  readonly links?: Array<{ traceId: string; spanId: string }>;
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
const valueOf = (v: AnyValue) => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue));
const attrs = (list: Array<{ key: string; value: AnyValue }> = []) => Object.fromEntries(list.map((a) => [a.key, valueOf(a.value)]));

/** A small OTLP/HTTP receiver: what the services export (JSON), kept raw and as spans. */
async function startCollector(): Promise<{ url: string; spans: CollectedSpan[]; raw: string[]; close: () => Promise<void> }> {
  const spans: CollectedSpan[] = [];
  const raw: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.url === '/v1/traces' && (req.headers['content-type'] ?? '').includes('json')) {
        raw.push(body);
        type Payload = { resourceSpans?: Array<{ resource?: { attributes?: Array<{ key: string; value: AnyValue }> }; scopeSpans?: Array<{ spans?: Array<Omit<CollectedSpan, 'service' | 'attributes'> & { attributes?: Array<{ key: string; value: AnyValue }> }> }> }> };
        for (const rs of (JSON.parse(body) as Payload).resourceSpans ?? []) {
          const service = String(attrs(rs.resource?.attributes)['service.name']);
          for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) spans.push({ ...s, service, attributes: attrs(s.attributes) });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, spans, raw, close: () => new Promise((r) => server.close(() => r())) };
}

const SERVER = 2;
const CONSUMER = 5;
const CLIENT = 3;

describe('one trace from the admin request to the projection', () => {
  let w: World;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  beforeAll(async () => {
    collector = await startCollector();
    w = await startWorld({ users: ['tr'], env: { POSTBUS_OTLP_ENDPOINT: collector.url }, services: ['admin', 'orchestrator', 'sender', 'projector'] });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
    await collector?.close();
  });

  it('admin request → dispatcher → worker → smtp.send → projection, with no address or password in any span', async () => {
    const recipient = 'traced.person@receiver.test';
    const accountId = await registerAccount(w, 'tr', 100);
    const res = await w.admin.request('POST', '/v1/messages', { messages: [{ to: recipient, subject: 'Traced', text: 'Hello.' }] });
    expect(res.status).toBe(202);
    await waitFor(() => w.sink.transactions.length === 1, { timeoutMs: 30_000, message: 'the message was not sent' });

    const request = () => collector.spans.find((s) => s.service === 'admin' && s.kind === SERVER && s.name === 'POST /v1/messages');
    const inTrace = (service: string, name: string) => {
      const r = request();
      return r ? collector.spans.find((s) => s.traceId === r.traceId && s.service === service && s.name === name) : undefined;
    };
    // Spans are exported every 2 s by each service.
    await waitFor(() => Boolean(inTrace('sender', 'smtp.send') && inTrace('projector', 'projection mail')), { timeoutMs: 30_000, message: 'the trace did not reach the projection' });
    const r = request()!;
    const dispatcher = inTrace('orchestrator', 'dispatcher process')!;
    const worker = inTrace('sender', 'worker process')!;
    const smtp = inTrace('sender', 'smtp.send')!;
    const projection = inTrace('projector', 'projection mail')!;
    expect(dispatcher.kind).toBe(CONSUMER);
    expect(worker.kind).toBe(CONSUMER);
    expect(projection.kind).toBe(CONSUMER);
    expect(smtp.kind).toBe(CLIENT);
    expect(smtp.parentSpanId).toBe(worker.spanId);
    expect(smtp.attributes).toMatchObject({ 'postbus.account.id': accountId, 'smtp.reply_code': 250 });
    // The worker's claim ran in Postgres under the same trace (pg instrumented in an ESM service).
    expect(collector.spans.some((s) => s.traceId === r.traceId && s.service === 'sender' && s.name.startsWith('pg.'))).toBe(true);

    // Invariant 8: nothing exported names the recipient or carries the SMTP password.
    const everything = collector.raw.join('\n');
    expect(everything).not.toContain(recipient);
    expect(everything).not.toContain('traced.person');
    expect(everything).not.toContain(SMTP_PASSWORD);
    expect(everything).not.toContain('Traced'); // the subject
  }, 90_000);
});
