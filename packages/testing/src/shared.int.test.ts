import net from 'node:net';
import { sql } from '@databases/pg';
import { describe, expect, it } from 'vitest';
import { withAdminConnection } from './database.js';
import { sharedNatsUrl, sharedPostgresUrl, testNamespace } from './namespace.js';
import { freePort } from './ports.js';

describe('shared servers and small helpers', () => {
  it('testNamespace gives a unique t + 8 hex prefix', () => {
    const prefixes = new Set(Array.from({ length: 100 }, () => testNamespace().prefix));
    expect(prefixes.size).toBe(100);
    for (const prefix of prefixes) expect(prefix).toMatch(/^t[0-9a-f]{8}$/);
  });

  it('freePort returns a port that can be bound on 127.0.0.1', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
  });

  it('sharedNatsUrl reaches a JetStream-enabled nats-server', async () => {
    const url = new URL(sharedNatsUrl());
    const socket = net.connect({ host: url.hostname, port: Number(url.port || 4222) });
    const line = await new Promise<string>((resolve, reject) => {
      socket.once('data', (d) => resolve(d.toString()));
      socket.once('error', reject);
    });
    socket.destroy();
    expect(JSON.parse(line.slice(5, line.indexOf('\r\n')))).toMatchObject({ jetstream: true });
  });

  it('sharedPostgresUrl reaches Postgres 15 as a user who may create databases', async () => {
    const [row] = await withAdminConnection(sharedPostgresUrl(), (db) =>
      db.query(sql`SELECT current_setting('server_version_num')::int AS v, rolcreatedb OR rolsuper AS can
                   FROM pg_roles WHERE rolname = current_user`),
    );
    expect(row?.v).toBeGreaterThanOrEqual(150000);
    expect(row?.can).toBe(true);
  });
});
