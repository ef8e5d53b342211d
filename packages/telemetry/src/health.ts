import { createServer, type Server } from 'node:http';
import { metricsEndpoint } from './metrics.js';

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Liveness (`/healthz`: the process answers), readiness (`/readyz`: its dependencies answer)
 * and `/metrics` (Prometheus; bearer `metricsToken` when set) for services that have no HTTP
 * server of their own. Port 0 picks a free port.
 */
export async function startHealthServer(port: number, ready: () => Promise<boolean>, host = '0.0.0.0', opts: { metricsToken?: string } = {}): Promise<HealthServer> {
  const scrape = metricsEndpoint(opts.metricsToken);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    if (path === '/metrics') {
      void scrape(req.headers.authorization)
        .catch(() => ({ status: 500, contentType: 'text/plain', body: 'metrics unavailable\n' }))
        .then((r) => res.writeHead(r.status, { 'content-type': r.contentType }).end(r.body));
      return;
    }
    if (path === '/readyz') {
      // Fire and forget: a failing check answers 503, and the reply itself cannot reject.
      void ready()
        .catch(() => false)
        .then((ok) => res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ready\n' : 'not ready\n'));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
