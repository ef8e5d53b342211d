// A container health check for images that have no curl or wget: `node deploy/healthcheck.mjs PORT [PATH]`.
// Exits 0 when http://127.0.0.1:PORT/PATH (default /readyz) answers 2xx within 3 s, else 1.
const [port, path = '/readyz'] = process.argv.slice(2);
if (!port) {
  console.error('usage: node deploy/healthcheck.mjs PORT [PATH]');
  process.exit(2);
}
try {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3_000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
