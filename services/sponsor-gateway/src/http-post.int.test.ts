import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardedLookup, postJson } from './adapters/http-post.js';

/**
 * SSRF: with private endpoints not allowed, the forwarder never connects to a loopback
 * endpoint — given as an address, or as a name that resolves to one (checked at connection
 * time, so a name re-pointed after the admin accepted it gets nowhere either).
 */
describe('forwarding to an endpoint on 127.0.0.1', () => {
  let server: Server;
  let hits = 0;
  let port = 0;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      hits++;
      res.writeHead(200).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const opts = { allowPrivate: false, timeoutMs: 2_000 };

  it('is refused when private endpoints are not allowed', async () => {
    expect(await postJson(`https://127.0.0.1:${port}/leads`, {}, '{}', opts)).toEqual({ error: 'endpoint refused: private, loopback or link-local address' });
    expect(await postJson(`http://127.0.0.1:${port}/leads`, {}, '{}', opts)).toEqual({ error: 'endpoint refused: must be https' });
    // A name that resolves to loopback (any name could): the connection-time lookup refuses it.
    const looked = await new Promise<string>((resolve) => guardedLookup('localhost', {}, (err) => resolve(err?.message ?? 'resolved')));
    expect(looked).toBe('endpoint resolves to a non-public address');
    expect(hits).toBe(0);
  });

  it('is reached when they are (tests only)', async () => {
    expect(await postJson(`http://127.0.0.1:${port}/leads`, {}, '{}', { allowPrivate: true, timeoutMs: 2_000 })).toEqual({ status: 200 });
    expect(hits).toBe(1);
  });
});
