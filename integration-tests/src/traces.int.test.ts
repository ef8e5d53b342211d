import { once } from 'node:events';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGmailStandin, waitFor, type GmailStandin } from '@postbus/testing';
import { SMTP_PASSWORD, registerAccount, registerGmailAccount, startWorld, type World } from './fixtures.js';

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

/** Requests a server saw: path and query, and the trace context they carried. */
interface Seen {
  readonly url: string;
  readonly traceparent: string | undefined;
}

/** Forwards every request to `target` (the Gmail stand-in), noting what came in. */
async function startRecordingProxy(targetPort: number): Promise<{ url: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', traceparent: req.headers.traceparent as string | undefined });
    const out = httpRequest({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/`, seen, close: () => new Promise((r) => server.close(() => r())) };
}

/** The alert webhook: answers 204, notes what came in. */
async function startHook(): Promise<{ base: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ url: req.url ?? '', traceparent: req.headers.traceparent as string | undefined });
      res.writeHead(204).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { base: `http://127.0.0.1:${port}`, seen, close: () => new Promise((r) => server.close(() => r())) };
}

const SERVER = 2;
const CONSUMER = 5;
const CLIENT = 3;
const WEBHOOK_SECRET = 'trace-test-webhook-secret-0123456789';
// The webhook URL carries secrets in its query and (as Slack's do) in its path.
const HOOK_QUERY_SECRET = 'hook-query-secret-42';
const HOOK_PATH_SECRET = 'AbCdEfGhIjKlMnOpQrStUvWx';

describe('one trace from the admin request to the projection', () => {
  let w: World;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let gmail: GmailStandin;
  let gmailProxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  let hook: Awaited<ReturnType<typeof startHook>>;
  beforeAll(async () => {
    collector = await startCollector();
    gmail = await startGmailStandin({ sendsPerMinute: 10_000, sendsPerDay: 10_000 });
    gmailProxy = await startRecordingProxy(gmail.port);
    hook = await startHook();
    w = await startWorld({
      users: ['tr', 'refused'],
      refusedUsers: ['refused'],
      env: {
        POSTBUS_OTLP_ENDPOINT: collector.url,
        POSTBUS_GMAIL_API_URL: gmailProxy.url,
        POSTBUS_GMAIL_TRUSTED_TOKEN_URIS: gmail.tokenUri,
        POSTBUS_ALERT_WEBHOOK_URL: `${hook.base}/alerts/${HOOK_PATH_SECRET}?key=${HOOK_QUERY_SECRET}`,
        POSTBUS_ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET,
      },
      services: ['admin', 'orchestrator', 'sender', 'projector'],
    });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
    await hook?.close();
    await gmailProxy?.close();
    await gmail?.close();
    await collector?.close();
  });

  const traceOf = (service: string, kind: number, name: string) => collector.spans.filter((s) => s.service === service && s.kind === kind && s.name === name);
  /** Whether `span` descends from `ancestor` among the collected spans. */
  const descends = (span: CollectedSpan, ancestor: CollectedSpan): boolean => {
    let at: CollectedSpan | undefined = span;
    while (at) {
      if (at.spanId === ancestor.spanId) return true;
      const { parentSpanId, traceId } = at;
      at = collector.spans.find((s) => s.spanId === parentSpanId && s.traceId === traceId);
    }
    return false;
  };
  const spanIdOf = (traceparent: string | undefined) => traceparent?.split('-')[2];
  const urlOf = (s: CollectedSpan) => {
    const url = s.attributes['url.full'] ?? s.attributes['http.url'];
    return typeof url === 'string' ? url : '';
  };

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
  it('a Gmail send: the API call is a CLIENT span under gmail.send in the request\'s trace, its context sent to Google, no token or query in any span', async () => {
    const user = 'traced.sender@gmail.test';
    const accountId = await registerGmailAccount(w, gmail, user);
    const res = await w.admin.request('POST', '/v1/messages', { messages: [{ to: 'gmail.recipient@receiver.test', subject: 'Via Gmail', text: 'Hello.', accountId }] });
    expect(res.status).toBe(202);
    await waitFor(() => gmail.sent(user).length === 1, { timeoutMs: 30_000, message: 'the Gmail message was not sent' });

    const sendCall = () => {
      for (const g of traceOf('sender', CLIENT, 'gmail.send')) {
        const call = collector.spans.find((s) => s.traceId === g.traceId && s.kind === CLIENT && s.spanId !== g.spanId && urlOf(s).endsWith('/messages/send') && descends(s, g));
        if (call) return { g, call };
      }
      return undefined;
    };
    await waitFor(() => Boolean(sendCall()), { timeoutMs: 30_000, message: 'no HTTP span for the Gmail API call' });
    const { g, call } = sendCall()!;
    const request = collector.spans.find((s) => s.traceId === g.traceId && s.service === 'admin' && s.kind === SERVER && s.name === 'POST /v1/messages');
    expect(request, 'gmail.send is in the admin request\'s trace').toBeDefined();
    expect(call.service).toBe('sender');
    // The context went to Google with the call: the proxy in front of the stand-in saw this very span.
    const atGoogle = gmailProxy.seen.find((r) => r.url.includes('/messages/send'));
    expect(atGoogle?.traceparent).toContain(g.traceId);
    expect(spanIdOf(atGoogle?.traceparent)).toBe(call.spanId);

    const everything = collector.raw.join('\n');
    for (const t of gmail.accessTokens(user)) expect(everything).not.toContain(t);
    expect(everything).not.toContain('PRIVATE KEY');
    expect(everything).not.toContain('gmail.recipient');
    expect(everything).not.toContain('traced.sender');
    for (const r of gmailProxy.seen) {
      const query = r.url.split('?')[1];
      if (query) expect(everything).not.toContain(query);
    }
  }, 90_000);

  it('the alert webhook: a CLIENT span from the orchestrator whose context reaches the receiver, the URL without its secrets', async () => {
    const accountId = await registerAccount(w, 'refused', 100);
    await w.admin.request('POST', '/v1/messages', { messages: [{ to: 'someone@receiver.test', subject: 'Refused', text: 'Hello.', accountId }] });
    await waitFor(() => hook.seen.length > 0, { timeoutMs: 40_000, message: 'the alert did not reach the webhook' });
    const webhookSpan = () => traceOf('orchestrator', CLIENT, 'POST').find((s) => spanIdOf(hook.seen[0]?.traceparent) === s.spanId);
    await waitFor(() => Boolean(webhookSpan()), { timeoutMs: 15_000, message: 'no span for the webhook call' });
    const span = webhookSpan()!;
    expect(hook.seen[0]?.traceparent).toContain(span.traceId);
    expect(span.attributes).toMatchObject({ 'url.full': `${hook.base}/alerts/:token`, 'http.response.status_code': 204 });
    expect(span.attributes).not.toHaveProperty('url.query');

    const everything = collector.raw.join('\n');
    for (const secret of [HOOK_QUERY_SECRET, HOOK_PATH_SECRET, WEBHOOK_SECRET, 'postbus-signature', SMTP_PASSWORD]) expect(everything).not.toContain(secret);
  }, 90_000);
});
