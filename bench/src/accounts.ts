// pnpm bench:accounts — 10,000 registered accounts on one sender node: time to place them and
// start every worker, sender and nats-server RSS, idle CPU and lease KV writes per second; then
// 1,000 of them sending at once (1 message a second each, 60 s) into an SMTP sink: achieved
// rate and limit violations. A nats-server of its own (its RSS and its consumers are the
// account workers' alone). Prints figures and ends with `RESULT {json}`. Nothing is asserted.
import { performance } from 'node:perf_hooks';
import { connectBus, ensureBuckets, ensureStreams, executeAccountCommand, liveNodes, openNodesBucket } from '@postbus/bus';
import { bucketName, bucketSpecs, newId, streamSpecs, type SendingSettings } from '@postbus/contracts';
import { connectDatabase, migrate, putSecret, sql } from '@postbus/db';
import { loadKeyring } from '@postbus/secrets';
import { AdminClient, Platform, createTestDatabase, startNatsServer, startSmtpSink, testNamespace } from '@postbus/testing';
import { cpuSeconds, peakRssMiB, rssMiB } from './proc.js';

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 10_000);
const SENDING = Number(process.env.BENCH_SENDING ?? 1_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
/** Each sending account may send this many; it is asked for more, so the limit is tested too. */
const LIMIT = Number(process.env.BENCH_LIMIT ?? 50);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 20);
const log = (...a: unknown[]) => console.error(...a);

async function main(): Promise<void> {
  const nats = await startNatsServer();
  const ns = testNamespace();
  const testDb = await createTestDatabase();
  const db = connectDatabase({ url: testDb.url, poolSize: 8 });
  await migrate(db);
  const bus = await connectBus({ servers: [nats.url], name: 'bench-accounts', namespace: ns });
  await ensureStreams(bus, streamSpecs(ns));
  await ensureBuckets(bus, bucketSpecs(ns));
  const sink = await startSmtpSink({ maxClients: SENDING + 100 });
  const platform = new Platform({
    natsUrl: nats.url,
    databaseUrl: testDb.url,
    namespace: ns.prefix,
    env: { POSTBUS_LOG_LEVEL: 'warn', POSTBUS_RECONCILE_INTERVAL_MS: '30000', POSTBUS_BACKLOG_ALERT_THRESHOLD: '0' },
  });
  try {
    const cipher = await loadKeyring({ masterKeys: platform.masterKeys, masterKeysDir: '', masterKeyId: '' });
    log(`registering ${ACCOUNTS} accounts (events on ACCOUNTS, passwords encrypted in Postgres) ...`);
    const tReg = performance.now();
    const ids: string[] = [];
    for (let start = 0; start < ACCOUNTS; start += 200) {
      await Promise.all(
        Array.from({ length: Math.min(200, ACCOUNTS - start) }, async (_, k) => {
          const i = start + k;
          const accountId = newId('acc');
          const secretId = newId('sec');
          await putSecret(db, cipher, secretId, 'smtp_password', 'bench-password');
          const settings: SendingSettings = { dailyLimit: LIMIT, batchSize: 10, sendDelayMs: 1_000, postalAddress: '1 Bench Street, Benchville', fromName: null };
          await executeAccountCommand(
            bus,
            {
              type: 'RegisterAccount',
              accountId,
              name: `bench ${i}`,
              fromAddress: `a${i}@bench.test`,
              smtp: { host: '127.0.0.1', port: sink.port, tls: 'none', user: `a${i}`, secretId },
              settings,
              actor: 'bench',
            },
            new Date(),
          );
          ids[i] = accountId;
        }),
      );
    }
    log(`registered in ${((performance.now() - tReg) / 1000).toFixed(1)} s`);

    await platform.start(['admin', 'orchestrator']);
    const nodesKv = await openNodesBucket(bus);
    log('starting one sender node ...');
    const t0 = performance.now();
    const sender = await platform.startService('sender', { POSTBUS_SENDER_NODE_ID: 'bench-node', POSTBUS_SENDER_CAPACITY: String(ACCOUNTS) });
    let placedAt = 0;
    let running = 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, 500));
      const [p] = await db.query(sql`SELECT count(*)::int AS n FROM account_assignments WHERE node_id = 'bench-node'`);
      if (!placedAt && p!.n === ACCOUNTS) placedAt = performance.now();
      running = (await liveNodes(bus, nodesKv)).find((n) => n.nodeId === 'bench-node')?.accounts ?? 0;
      if (running >= ACCOUNTS) break;
      if (performance.now() - t0 > Number(process.env.BENCH_START_TIMEOUT_S ?? 600) * 1000) throw new Error(`only ${running} of ${ACCOUNTS} workers started in time`);
    }
    const allStarted = performance.now();
    const senderPid = sender.process.pid!;
    const orchestratorPid = platform.services.get('orchestrator')!.process.pid!;
    log(`all ${ACCOUNTS} placed after ${((placedAt - t0) / 1000).toFixed(1)} s, all workers running after ${((allStarted - t0) / 1000).toFixed(1)} s`);

    // Idle: every worker waiting for work.
    const kvStream = `KV_${bucketName(ns, 'postbus_nodes')}`;
    const seq0 = (await bus.jsm.streams.info(kvStream)).state.last_seq;
    const cpu0 = { sender: cpuSeconds(senderPid), nats: cpuSeconds(nats.pid!), orchestrator: cpuSeconds(orchestratorPid) };
    const tIdle = performance.now();
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const idleSeconds = (performance.now() - tIdle) / 1000;
    const seq1 = (await bus.jsm.streams.info(kvStream)).state.last_seq;
    const idle = {
      seconds: Number(idleSeconds.toFixed(1)),
      cpuPercent: {
        sender: Number((((cpuSeconds(senderPid) - cpu0.sender) / idleSeconds) * 100).toFixed(1)),
        natsServer: Number((((cpuSeconds(nats.pid!) - cpu0.nats) / idleSeconds) * 100).toFixed(1)),
        orchestrator: Number((((cpuSeconds(orchestratorPid) - cpu0.orchestrator) / idleSeconds) * 100).toFixed(1)),
      },
      leaseKvWritesPerSec: Number(((seq1 - seq0) / idleSeconds).toFixed(2)),
      rssMiB: { sender: Math.round(rssMiB(senderPid)), natsServer: Math.round(rssMiB(nats.pid!)) },
    };
    log(`idle: ${JSON.stringify(idle)}`);

    // 1,000 accounts send at once, 1 message a second each, asked for more than their limit.
    const admin = new AdminClient(platform.adminUrl);
    await admin.login('admin', platform.adminPassword);
    const perAccount = Math.min(SECONDS, LIMIT + 10);
    const sending = ids.slice(0, SENDING);
    log(`${SENDING} accounts sending: ${perAccount} messages each asked (limit ${LIMIT}), 1 a second ...`);
    const tSend = performance.now();
    const all = sending.flatMap((accountId, a) =>
      Array.from({ length: perAccount }, (_, m) => ({ to: `r${a}x${m}@receiver.test`, subject: `Hello ${m}`, text: `Message ${m} of account ${a}.`, accountId })),
    );
    // Interleaved, so that every account has work from the first second.
    all.sort((x, y) => Number(x.subject.slice(6)) - Number(y.subject.slice(6)));
    for (let i = 0; i < all.length; i += 1000) {
      const res = await admin.request('POST', '/v1/messages', { messages: all.slice(i, i + 1000) });
      if (res.status !== 202) throw new Error(`messages: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    }
    const posted = (performance.now() - tSend) / 1000;
    const want = SENDING * Math.min(LIMIT, perAccount);
    let last = 0;
    let lastChange = performance.now();
    while (sink.transactions.length < want && performance.now() - lastChange < 30_000) {
      await new Promise((r) => setTimeout(r, 1_000));
      if (sink.transactions.length !== last) {
        last = sink.transactions.length;
        lastChange = performance.now();
      }
    }
    const sendSeconds = (performance.now() - tSend) / 1000;
    const firstAt = Math.min(...sink.transactions.map((t) => t.startedAt));
    const lastAt = Math.max(...sink.transactions.map((t) => t.endedAt));
    const counts = sink.countByUser();
    const violations = [...counts.values()].filter((n) => n > LIMIT).length;
    const [overQuota] = await db.query(sql`SELECT count(*)::int AS n FROM (SELECT account_id, sum(sent) AS s FROM quota_usage GROUP BY account_id) q WHERE q.s > ${LIMIT}`);
    const perAccountRate = [...counts.values()].map((n) => n);
    const result = {
      accounts: ACCOUNTS,
      placedSeconds: Number(((placedAt - t0) / 1000).toFixed(1)),
      allWorkersStartedSeconds: Number(((allStarted - t0) / 1000).toFixed(1)),
      idle,
      peakRssMiB: { sender: Math.round(peakRssMiB(senderPid)), natsServer: Math.round(peakRssMiB(nats.pid!)) },
      sending: {
        accounts: SENDING,
        askedPerAccount: perAccount,
        limit: LIMIT,
        postSeconds: Number(posted.toFixed(1)),
        delivered: sink.transactions.length,
        expected: want,
        achievedPerSec: Number((sink.transactions.length / ((lastAt - firstAt) / 1000)).toFixed(1)),
        targetPerSec: SENDING,
        seconds: Number(sendSeconds.toFixed(1)),
        accountsThatSent: counts.size,
        minPerAccount: Math.min(...perAccountRate),
        maxPerAccount: Math.max(...perAccountRate),
        limitViolations: violations + overQuota!.n,
        duplicates: sink.duplicates().length,
        overlappingTransactions: sink.overlaps().length,
      },
    };
    console.log(`\n${ACCOUNTS} accounts on one node: placed in ${result.placedSeconds} s, all workers running in ${result.allWorkersStartedSeconds} s`);
    console.log(`idle: sender RSS ${idle.rssMiB.sender} MiB, nats-server RSS ${idle.rssMiB.natsServer} MiB; CPU sender ${idle.cpuPercent.sender} %, nats-server ${idle.cpuPercent.natsServer} %, orchestrator ${idle.cpuPercent.orchestrator} %; lease KV writes ${idle.leaseKvWritesPerSec}/s`);
    console.log(`${SENDING} accounts sending: ${result.sending.delivered}/${want} delivered at ${result.sending.achievedPerSec}/s (target ${SENDING}/s); limit violations ${result.sending.limitViolations}, duplicates ${result.sending.duplicates}, overlaps ${result.sending.overlappingTransactions}`);
    console.log(`RESULT ${JSON.stringify(result)}`);
  } finally {
    // BENCH_SHOW_LOGS=1: the services' warnings (a lost lease, a failing worker) at the end.
    if (process.env.BENCH_SHOW_LOGS) for (const n of ['orchestrator', 'sender']) console.error(n, platform.logs(n).slice(-5000));
    await platform.stop();
    await sink.close();
    await bus.close();
    await db.dispose();
    await testDb.drop();
    await nats.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
