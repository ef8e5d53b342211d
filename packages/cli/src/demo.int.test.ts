import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { connectBus, deleteStreams } from '@postbus/bus';
import { bucketSpecs, streamSpecs } from '@postbus/contracts';
import { connectDatabase, sql } from '@postbus/db';
import { sharedNatsUrl, sharedPostgresUrl, testNamespace } from '@postbus/testing';
import { afterAll, describe, expect, it } from 'vitest';

// `postbus demo --exit` as a user runs it: the built CLI and services (pnpm test builds first),
// against the shared NATS and Postgres, in its own namespace, database and .demo directory.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const main = `${root}packages/cli/dist/main.js`;
const ns = testNamespace();
const dbName = `postbus_t_demo_${randomBytes(6).toString('hex')}`;
const databaseUrl = Object.assign(new URL(sharedPostgresUrl()), { pathname: `/${dbName}` }).toString();
const demoDir = mkdtempSync(`${tmpdir()}/postbus-demo-`);

afterAll(async () => {
  const bus = await connectBus({ servers: [sharedNatsUrl()], name: 'demo-int-cleanup', namespace: ns });
  try {
    await deleteStreams(bus, streamSpecs(ns));
    for (const b of bucketSpecs(ns)) await bus.jsm.streams.delete(`KV_${b.name}`).catch(() => undefined);
  } finally {
    await bus.close();
  }
  const admin = connectDatabase({ url: sharedPostgresUrl(), poolSize: 1 });
  try {
    await admin.query(sql`DROP DATABASE IF EXISTS ${sql.ident(dbName)} WITH (FORCE)`);
  } finally {
    await admin.dispose();
  }
  rmSync(demoDir, { recursive: true, force: true });
});

function runDemo(timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, 'demo', '--exit'], {
      cwd: root,
      env: {
        ...process.env,
        POSTBUS_DEMO_DIR: demoDir,
        POSTBUS_NAMESPACE: ns.prefix,
        POSTBUS_DATABASE_URL: databaseUrl,
        POSTBUS_NATS_URL: sharedNatsUrl(),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    // SIGTERM is the demo's own "stop everything" (it stops its services before exiting).
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('postbus demo --exit', () => {
  it('starts the platform, sends 5 messages to the SMTP catcher, prints where to look and stops', { timeout: 120_000 }, async () => {
    if (!existsSync(main) || !existsSync(`${root}services/admin/dist/main.js`)) {
      throw new Error(`${main} or the services' dist/ is missing: run \`pnpm build\` first (\`pnpm test\` builds before running vitest)`);
    }
    const { code, output } = await runDemo(90_000);
    expect(code, output).toBe(0);

    const adminUrl = /Admin API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
    expect(adminUrl, output).toBeDefined();
    expect(output).toContain(`${adminUrl}/docs`);
    expect(output).toContain(`curl -s ${adminUrl}/v1/messages/msg_`);
    expect(output.match(/ msg_\w+ +sent /g), output).toHaveLength(5);
    expect(output).toContain('Stopped.');

    const emls = readdirSync(`${demoDir}/mail`).filter((f) => f.endsWith('.eml')).sort();
    expect(emls).toHaveLength(5);
    const first = readFileSync(`${demoDir}/mail/${emls[0]}`, 'utf8');
    expect(first).toMatch(/^From: .*demo@postbus\.test/m);
    expect(first).toMatch(/^Subject: Hello (Ada|Grace|Edsger|Barbara|Alan), this is Postbus/m);

    const env = readFileSync(`${demoDir}/env`, 'utf8');
    expect(env).toMatch(/^POSTBUS_MASTER_KEYS=demo1:[A-Za-z0-9+/]{43}=$/m);
    expect(env).toMatch(/^POSTBUS_JWT_SECRET=\S+$/m);
    expect(env).toMatch(/^POSTBUS_ADMIN_PASSWORD=\S+$/m);
    for (const s of ['admin', 'orchestrator', 'sender', 'projector']) expect(existsSync(`${demoDir}/logs/${s}.log`)).toBe(true);
  });
});
