import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { startHealthServer } from './health.js';

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the health server', () => {
  it('the health server serves /metrics, behind the token when one is set', async () => {
    const open = await startHealthServer(0, async () => true, '127.0.0.1');
    const closed = await startHealthServer(0, async () => true, '127.0.0.1', { metricsToken: 'tok' });
    try {
      const a = await get(open.port, '/metrics');
      expect(a.status).toBe(200);
      expect(a.body).toContain('# TYPE postbus_sends_total counter');
      expect((await get(closed.port, '/metrics')).status).toBe(401);
      expect((await get(closed.port, '/metrics', { authorization: 'Bearer nope' })).status).toBe(401);
      const b = await get(closed.port, '/metrics', { authorization: 'Bearer tok' });
      expect(b.status).toBe(200);
      expect(b.body).toContain('nodejs_eventloop_lag_seconds');
      expect((await get(closed.port, '/healthz')).status).toBe(200);
    } finally {
      await open.close();
      await closed.close();
    }
  });
});
