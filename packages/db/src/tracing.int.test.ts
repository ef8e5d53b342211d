import { once } from 'node:events';
import { createServer, request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { SpanKind, inSpan, recordSpans } from '@postbus/telemetry';

// Tracing starts before `pg` is first loaded, as in each service's main.ts (whose first import
// starts it): the instrumentations patch CommonJS modules as they are required.
const rec = recordSpans('db-test');
const { createTestDatabase } = await import('@postbus/testing');
const { connectDatabase } = await import('./connect.js');
const { sql } = await import('@databases/pg');

const tdb = await createTestDatabase();
const db = connectDatabase({ url: tdb.url, applicationName: 'tracing-test' });

afterAll(async () => {
  await db.dispose();
  await tdb.drop();
  await rec.tracing.shutdown();
});

describe('instrumentation loaded from ESM', () => {
  it('a pg query and an outgoing HTTP call (an ESM `import { request }`) make spans under the active one', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    await inSpan('work', {}, async () => {
      await db.query(sql`SELECT 1 AS one`);
      await new Promise<void>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path: '/x?token=abc' }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
          .on('error', reject)
          .end();
      });
    });
    server.close();
    const spans = rec.spans();
    const work = spans.find((s) => s.name === 'work')!;
    expect(work).toBeDefined();
    const pg = spans.find((s) => s.kind === SpanKind.CLIENT && /SELECT|pg/i.test(s.name));
    expect(pg?.spanContext().traceId).toBe(work.spanContext().traceId);
    const http = spans.find((s) => s.kind === SpanKind.CLIENT && s.attributes['http.request.method'] === 'GET');
    expect(http?.spanContext().traceId).toBe(work.spanContext().traceId);
    // The server side of the same call: a SERVER span in the same trace, without the query.
    const served = spans.find((s) => s.kind === SpanKind.SERVER);
    expect(served?.spanContext().traceId).toBe(work.spanContext().traceId);
    expect(JSON.stringify(spans.map((s) => s.attributes))).not.toContain('token=abc');
  });
});
