import { existsSync } from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServer } from './nats-server.js';
import { testNamespace } from './namespace.js';

/** Reads the INFO line nats-server sends on connect. */
async function info(port: number): Promise<Record<string, unknown>> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const line = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    socket.on('data', (d) => {
      buffer += d.toString();
      const end = buffer.indexOf('\r\n');
      if (end >= 0) resolve(buffer.slice(0, end));
    });
    socket.once('error', reject);
  });
  socket.destroy();
  expect(line.startsWith('INFO ')).toBe(true);
  return JSON.parse(line.slice(5)) as Record<string, unknown>;
}

/** One JetStream API request over the raw protocol, returning the parsed reply. */
async function jsApi(port: number, subject: string, body: object): Promise<Record<string, unknown>> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const payload = JSON.stringify(body);
  const reply = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    socket.on('data', (d) => {
      buffer += d.toString();
      const match = /MSG \S+ \d+ (\d+)\r\n/.exec(buffer);
      if (match?.[1] === undefined) return;
      const start = match.index + match[0].length;
      const size = Number(match[1]);
      if (Buffer.byteLength(buffer.slice(start)) >= size) resolve(buffer.slice(start, start + size));
    });
    socket.once('error', reject);
    socket.write('CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.raw 1\r\n');
    socket.write(`PUB ${subject} _INBOX.raw ${Buffer.byteLength(payload)}\r\n${payload}\r\n`);
  });
  socket.destroy();
  return JSON.parse(reply) as Record<string, unknown>;
}

const isRunning = (pid: number | undefined): boolean => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const servers: NatsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

describe('startNatsServer', () => {
  it('starts a JetStream server on a free port and removes its store on stop', async () => {
    const server = await startNatsServer();
    const serverInfo = await info(server.port);
    expect(serverInfo).toMatchObject({ port: server.port, jetstream: true, version: '2.9.10' });
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    expect(existsSync(server.storeDir)).toBe(true);
    const pid = server.pid;
    await server.stop();
    expect(isRunning(pid)).toBe(false);
    expect(existsSync(server.storeDir)).toBe(false);
    expect(server.pid).toBeUndefined();
  });

  it('keeps streams across restart() and across kill() + start() on the same port', async () => {
    const { prefix } = testNamespace();
    const server = await startNatsServer();
    servers.push(server);
    const created = await jsApi(server.port, `$JS.API.STREAM.CREATE.${prefix}_S`, {
      name: `${prefix}_S`,
      subjects: [`${prefix}.>`],
      storage: 'file',
    });
    expect(created).toMatchObject({ type: 'io.nats.jetstream.api.v1.stream_create_response' });

    const firstPid = server.pid;
    await server.restart();
    expect(server.pid).not.toBe(firstPid);
    expect(isRunning(firstPid)).toBe(false);
    expect(await jsApi(server.port, `$JS.API.STREAM.INFO.${prefix}_S`, {})).toHaveProperty('config.name', `${prefix}_S`);

    const secondPid = server.pid;
    await server.kill();
    expect(isRunning(secondPid)).toBe(false);
    await server.start();
    expect(await jsApi(server.port, `$JS.API.STREAM.INFO.${prefix}_S`, {})).toHaveProperty('config.name', `${prefix}_S`);
  });

  it('runs without JetStream and honours a given port and store dir (which it keeps)', async () => {
    const first = await startNatsServer({ jetstream: false });
    servers.push(first);
    expect(await info(first.port)).not.toHaveProperty('jetstream');
    const second = await startNatsServer({ storeDir: first.storeDir });
    await second.stop();
    expect(existsSync(first.storeDir)).toBe(true);
  });

  it('fails with the server output when the port is taken', async () => {
    const first = await startNatsServer({ jetstream: false });
    servers.push(first);
    await expect(startNatsServer({ port: first.port })).rejects.toThrow(/exited early[\s\S]*address already in use/);
  });
});
