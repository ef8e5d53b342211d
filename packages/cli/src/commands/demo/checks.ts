import net from 'node:net';
import { connectBus, ensureBuckets, ensureStreams } from '@postbus/bus';
import type { PostbusConfig } from '@postbus/config';
import { bucketSpecs, streamSpecs } from '@postbus/contracts';
import { connectDatabase, migrate, sql } from '@postbus/db';

/** Before the demo starts anything: are NATS and Postgres there, and is the demo's database ready? */

export const NATS_START_COMMAND =
  'start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log';
export const POSTGRES_START_COMMAND = 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start';

/** True when a TCP connection to host:port opens within timeoutMs. */
export function tcpReachable(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function natsEndpoint(server: string): { host: string; port: number } {
  const url = new URL(server.includes('://') ? server : `nats://${server}`);
  return { host: url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(url.port || 4222) };
}

/** The URL with its password hidden, for output. */
export function safeUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error && err.cause.message && !err.message.includes(err.cause.message) ? ` (${err.cause.message})` : '';
  return `${err.message}${cause}`;
}

/**
 * NATS: a TCP connect to any of the servers, then a real connection with JetStream (which
 * also provisions the namespace's streams and buckets). Returns a problem text, or undefined.
 */
export async function checkNats(config: PostbusConfig): Promise<string | undefined> {
  const endpoints = config.natsServers.map(natsEndpoint);
  const where = config.natsServers.join(', ');
  const reachable = await Promise.all(endpoints.map((e) => tcpReachable(e.host, e.port)));
  if (!reachable.some(Boolean)) {
    return `NATS is not reachable at ${where}. Start it (JetStream on) with:\n  ${NATS_START_COMMAND}`;
  }
  try {
    const ns = { prefix: config.namespace };
    const bus = await connectBus({ servers: config.natsServers, name: 'postbus-demo', namespace: ns, connectTimeoutMs: 3_000 });
    try {
      const opts = { replicas: config.streamReplicas, logRetentionDays: config.logRetentionDays };
      await ensureStreams(bus, streamSpecs(ns, opts));
      await ensureBuckets(bus, bucketSpecs(ns, opts));
    } finally {
      await bus.close();
    }
  } catch (err) {
    return `Something listens at ${where}, but it is not a working NATS server with JetStream: ${errorText(err)}\nStart NATS (JetStream on) with:\n  ${NATS_START_COMMAND}`;
  }
  return undefined;
}

/**
 * Postgres: a TCP connect, `SELECT 1` on the server's `postgres` database, CREATE DATABASE
 * when the demo's database is missing, then the migrations.
 */
export async function checkPostgres(databaseUrl: string): Promise<{ problem?: string; created?: boolean }> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) return { problem: `POSTBUS_DATABASE_URL names no database: ${safeUrl(databaseUrl)}` };
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 5432);
  if (host && !(await tcpReachable(host, port))) {
    return { problem: `PostgreSQL is not reachable at ${host}:${port}. Start it with:\n  ${POSTGRES_START_COMMAND}` };
  }
  const adminUrl = new URL(databaseUrl);
  adminUrl.pathname = '/postgres';
  let created = false;
  const admin = connectDatabase({ url: adminUrl.toString(), applicationName: 'postbus-demo', poolSize: 1 });
  try {
    await admin.query(sql`SELECT 1`);
    const [exists] = await admin.query(sql`SELECT 1 AS one FROM pg_database WHERE datname = ${name}`);
    if (!exists) {
      try {
        await admin.query(sql`CREATE DATABASE ${sql.ident(name)}`);
        created = true;
      } catch (err) {
        // 42P04: someone else created it in the meantime
        if ((err as { code?: string }).code !== '42P04') throw err;
      }
    }
  } catch (err) {
    return { problem: `PostgreSQL at ${host || 'localhost'}:${port} is reachable but refused the demo: ${errorText(err)}` };
  } finally {
    await admin.dispose().catch(() => undefined);
  }
  const db = connectDatabase({ url: databaseUrl, applicationName: 'postbus-demo', poolSize: 1 });
  try {
    await migrate(db);
  } catch (err) {
    return { problem: `cannot migrate ${safeUrl(databaseUrl)}: ${errorText(err)}` };
  } finally {
    await db.dispose().catch(() => undefined);
  }
  return { created };
}
