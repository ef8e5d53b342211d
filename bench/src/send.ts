// pnpm bench:send — 20,000 emails across 10 accounts through the whole pipeline (admin API →
// JetStream → ledger → sender → SMTP sink → events → Postgres), limits high but ledger,
// suppression and quota all active; in the same run a bare pooled nodemailer baseline to the
// same sink. Prints figures and ends with `RESULT {json}`. Not a test: nothing is asserted.
import net from 'node:net';
import nodemailer from 'nodemailer';
import { connectBus, deleteNamespace, ensureStreams } from '@postbus/bus';
import { DEFAULT_SENDS_PER_EVENT, DEFAULT_SENT_LINGER_MS } from '@postbus/config';
import { bucketSpecs, streamSpecs } from '@postbus/contracts';
import { addSuppression, connectDatabase, migrate, sql } from '@postbus/db';
import { AdminClient, Platform, createTestDatabase, sharedNatsUrl, testNamespace, type ServiceName } from '@postbus/testing';
import { contextSwitches, cpuSeconds, groupCpu, groupSwitches, peakRssMiB, percentile, pidsOf } from './proc.js';
import { startBenchSink } from './sink.js';

const TOTAL = Number(process.env.BENCH_EMAILS ?? 20_000);
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 10);
const html = (i: number) => `<html><body><h1>Hello {{name}}</h1><p>This is message ${i} of the Postbus benchmark.</p>${'<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>'.repeat(8)}</body></html>`;
const text = (i: number) => `Hello {{name}}\n\nThis is message ${i} of the Postbus benchmark.\n${'Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n'.repeat(8)}`;
const log = (...a: unknown[]) => console.error(...a);

async function baseline(port: number, sinkPid?: number): Promise<{ rate: number; seconds: number; cpuPerEmailUs: number; sinkCpuPerEmailUs: number; switchesPerEmail: number }> {
  // TCP_NODELAY as in Postbus's own SMTP sessions: without it Nagle and delayed ACKs cap
  // each connection near 25 messages a second and the comparison would flatter Postbus.
  const transport = nodemailer.createTransport({
    pool: true,
    host: '127.0.0.1',
    port,
    maxConnections: ACCOUNTS,
    maxMessages: Infinity,
    ignoreTLS: true,
    getSocket: (_opts, cb) => {
      const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
      s.once('connect', () => cb(null, { connection: s }));
      s.once('error', (err) => cb(err, undefined));
    },
  });
  const cpu0 = process.cpuUsage();
  const switches = () => contextSwitches(process.pid) + (sinkPid && sinkPid !== process.pid ? contextSwitches(sinkPid) : 0);
  const switches0 = switches();
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < TOTAL) {
      const i = next++;
      await transport.sendMail({ from: `sender${i % ACCOUNTS}@bench.test`, to: `r${i}@receiver.test`, subject: `Hello ${i}`, text: text(i).replace('{{name}}', 'Ada'), html: html(i).replace('{{name}}', 'Ada') });
    }
  };
  await Promise.all(Array.from({ length: 100 }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const switchesPerEmail = (switches() - switches0) / TOTAL;
  transport.close();
  return { rate: TOTAL / seconds, seconds, cpuPerEmailUs: ((cpu.user + cpu.system) / TOTAL), sinkCpuPerEmailUs: 0, switchesPerEmail };
}

interface BenchResult {
  emails: number;
  accounts: number;
  sendsPerEvent: number;
  sentLingerMs: number;
  sink: string;
  pipelineEmailsPerSec: number;
  baselineEmailsPerSec: number;
  baselineRuns: number[];
  ratio: number;
  postSeconds: number;
  sendSeconds: number;
  projectedSeconds: number;
  latencyMs: { p50: number; p99: number };
  cpuUsPerEmail: Record<string, number>;
  cpuUsPerEmailTotal: number;
  postgresCpuUsPerEmailByClient: Record<string, number>;
  baselineCpuUsPerEmail: { baseline: number; sink: number };
  switchesPerEmail: Record<string, number>;
  switchesPerEmailTotal: number;
  baselineSwitchesPerEmail: number;
  peakRssMiB: Record<string, number>;
  outcomes: unknown;
  stagesSeconds: unknown;
  perAccountGaps: unknown;
}

async function main(): Promise<void> {
  const sink = await startBenchSink();
  log(`sink: ${sink.kind} on 127.0.0.1:${sink.port}`);

  log(`baseline: ${TOTAL} emails through a pooled nodemailer transport (${ACCOUNTS} connections), composed by nodemailer ...`);
  const sinkCpu0 = sink.pid ? cpuSeconds(sink.pid) : 0;
  const base = await baseline(sink.port, sink.pid);
  base.sinkCpuPerEmailUs = sink.pid && sink.pid !== process.pid ? ((cpuSeconds(sink.pid) - sinkCpu0) * 1e6) / TOTAL : 0;
  log(`baseline: ${base.rate.toFixed(0)} emails/s (${base.seconds.toFixed(1)} s)`);

  const ns = testNamespace();
  const testDb = await createTestDatabase();
  const db = connectDatabase({ url: testDb.url, poolSize: 2 });
  await migrate(db);
  const natsUrl = sharedNatsUrl();
  const bus = await connectBus({ servers: [natsUrl], name: 'bench', namespace: ns });
  await ensureStreams(bus, streamSpecs(ns));
  // A suppression list that is not empty, none of it in the way of the benchmark's recipients.
  for (let i = 0; i < 1_000; i++) await addSuppression(db, `gone${i}@receiver.test`, 'bench', 'bench');

  // BENCH_PROFILE=dir writes a V8 CPU profile of every service process into dir.
  // BENCH_NODE_ARGS: more flags for every service process (e.g. V8's heap settings).
  const nodeArgs = [
    ...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []),
    ...(process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
  ];
  if (process.env.BENCH_PGSS) { await db.query(sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); await db.query(sql`SELECT pg_stat_statements_reset()`); }
  let result: BenchResult | undefined;
  const platform = new Platform({ natsUrl, databaseUrl: testDb.url, namespace: ns.prefix, env: { POSTBUS_LOG_LEVEL: 'warn', POSTBUS_RECONCILE_INTERVAL_MS: '30000', ...(process.env.BENCH_SENDS_PER_EVENT ? { POSTBUS_SENDS_PER_EVENT: process.env.BENCH_SENDS_PER_EVENT } : {}), ...(process.env.BENCH_SENT_LINGER_MS ? { POSTBUS_SENT_LINGER_MS: process.env.BENCH_SENT_LINGER_MS } : {}) }, nodeArgs });
  try {
    await platform.start();
    const admin = new AdminClient(platform.adminUrl);
    await admin.login('admin', platform.adminPassword);
    for (let a = 0; a < ACCOUNTS; a++) {
      const res = await admin.request('POST', '/v1/accounts', {
        name: `bench ${a}`,
        fromAddress: `sender${a}@bench.test`,
        smtp: { host: '127.0.0.1', port: sink.port, tls: 'none', user: `sender${a}`, password: 'bench-password' },
        dailyLimit: 1_000_000,
        batchSize: Number(process.env.BENCH_BATCH ?? 50),
        sendDelayMs: 0,
        postalAddress: '1 Bench Street, Benchville',
      });
      if (res.status !== 201) throw new Error(`account: ${res.status} ${JSON.stringify(res.body)}`);
    }
    await new Promise((r) => setTimeout(r, 1_000)); // workers start

    const procs: Array<{ name: string; pids: () => number[] }> = [
      ...(['admin', 'orchestrator', 'sender', 'projector'] as ServiceName[]).map((n) => ({ name: n, pids: () => [platform.services.get(n)!.process.pid!] })),
      { name: 'nats-server', pids: () => pidsOf('nats-server', /-p 4222\b/) },
      { name: 'postgres', pids: () => pidsOf('postgres') },
      { name: 'sink', pids: () => (sink.pid && sink.pid !== process.pid ? [sink.pid] : []) },
    ];
    const pidSets = procs.map((p) => p.pids());
    const cpuBefore = pidSets.map(groupCpu);
    const switchesBefore = pidSets.map(groupSwitches);
    const sinkBase = sink.pid ? cpuSeconds(sink.pid) : 0;
    const pgBefore = new Map(pidsOf('postgres').map((pid) => [pid, cpuSeconds(pid)]));

    log(`pipeline: ${TOTAL} emails across ${ACCOUNTS} accounts through the admin API ...`);
    const t0 = performance.now();
    const batches = Math.ceil(TOTAL / 1000);
    let posted = 0;
    await Promise.all(
      Array.from({ length: 2 }, async () => {
        while (posted < batches) {
          const b = posted++;
          const messages = Array.from({ length: Math.min(1000, TOTAL - b * 1000) }, (_, k) => {
            const i = b * 1000 + k;
            return { to: `r${i}@receiver.test`, subject: `Hello ${i}`, text: text(i), html: html(i), variables: { name: 'Ada' } };
          });
          const res = await admin.request('POST', '/v1/messages', { messages });
          if (res.status !== 202) throw new Error(`messages: ${res.status} ${JSON.stringify(res.body)}`);
        }
      }),
    );
    const tPosted = performance.now();
    let sent = 0;
    while (sent < TOTAL) {
      await new Promise((r) => setTimeout(r, 100));
      // Cheap to poll (a few rows per account), so the benchmark does not load the database it measures.
      const [row] = await db.query(sql`SELECT COALESCE(sum(sent), 0)::int AS n FROM quota_usage`);
      sent = row!.n;
      if (performance.now() - t0 > 600_000) throw new Error(`timed out with ${sent} of ${TOTAL} settled`);
    }
    const tSent = performance.now();
    let projected = 0;
    while (projected < TOTAL) {
      await new Promise((r) => setTimeout(r, 250));
      const [row] = await db.query(sql`SELECT count(*)::int AS n FROM email_queue WHERE status = 'sent'`).catch(() => [{ n: 0 }]);
      projected = row!.n;
      if (performance.now() - t0 > 900_000) throw new Error('projection did not catch up');
    }
    const tProjected = performance.now();
    // Processes that started during the run (pool connections open lazily) count in full.
    const afterRun = (group: (pids: readonly number[]) => number) =>
      procs.map((p, i) => {
        const before = new Set(pidSets[i]);
        return group(pidSets[i]!) + group(p.pids().filter((pid) => !before.has(pid)));
      });
    const cpuAfter = afterRun(groupCpu);
    const switchesAfter = afterRun(groupSwitches);
    void sinkBase;
    // Postgres's share per client: each backend's CPU, by the application that holds it.
    const pgByApp: Record<string, number> = {};
    for (const r of await db.query(sql`SELECT pid, application_name FROM pg_stat_activity WHERE datname = current_database()`)) {
      const app = String(r.application_name || 'other').replace(/^postbus-/, '');
      const used = cpuSeconds(r.pid) - (pgBefore.get(r.pid) ?? 0);
      pgByApp[app] = (pgByApp[app] ?? 0) + Math.round((used * 1e6) / TOTAL);
    }

    const lat = (await db.query(sql`SELECT extract(epoch FROM outcome_at - requested_at) * 1000 AS ms FROM deliveries WHERE state = 'sent' ORDER BY 1`)).map((r) => Number(r.ms));
    // Where the time goes: the last request accepted, the last row assigned, the last 250.
    const [stages] = await db.query(sql`SELECT extract(epoch FROM max(requested_at) - min(requested_at))::float AS requested,
      extract(epoch FROM max(assigned_at) - min(requested_at))::float AS assigned,
      extract(epoch FROM max(outcome_at) - min(requested_at))::float AS settled,
      extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY assigned_at - requested_at))::float AS dispatch_p50,
      extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY outcome_at - assigned_at))::float AS send_p50
      FROM deliveries`);
    // Per account, the time from one message's `sending` mark to the next one's: within a
    // claimed batch (the send itself) and across batches (claim, publish acks, consumer).
    if (process.env.BENCH_PGSS) { await db.query(sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); const top = await db.query(sql`SELECT calls, round(total_exec_time::numeric, 0) AS ms, round((total_exec_time / calls)::numeric, 3) AS per_call, left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 110) AS q FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 14`); console.error(top.map((r) => `${r.ms} ms ${r.calls} calls ${r.per_call}: ${r.q}`).join('\n')); }
    const [gaps] = await db.query(sql`WITH s AS (
        SELECT account_id, claimed_at, sending_at, lag(sending_at) OVER (PARTITION BY account_id ORDER BY sending_at) AS prev,
               lag(claimed_at) OVER (PARTITION BY account_id ORDER BY sending_at) AS prev_claim,
               lag(outcome_at) OVER (PARTITION BY account_id ORDER BY sending_at) AS prev_outcome FROM deliveries WHERE state = 'sent')
      SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sending_at - prev) * 1000) FILTER (WHERE claimed_at = prev_claim) AS within_batch_p50_ms,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sending_at - prev) * 1000) FILTER (WHERE claimed_at <> prev_claim) AS across_batches_p50_ms,
             -- The gap between batches in two: from the last reply of one to the next claim's
             -- start (recording that outcome, the next batch's delivery), then to the first mark.
             percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM claimed_at - prev_outcome) * 1000) FILTER (WHERE claimed_at <> prev_claim) AS reply_to_claim_p50_ms,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sending_at - claimed_at) * 1000) FILTER (WHERE claimed_at <> prev_claim) AS claim_to_mark_p50_ms,
             count(*) FILTER (WHERE claimed_at <> prev_claim)::int AS batches
      FROM s`);
    const [states] = await db.query(sql`SELECT count(*) FILTER (WHERE state = 'sent')::int AS sent, count(*) FILTER (WHERE state <> 'sent')::int AS other FROM deliveries`);
    const sendSeconds = (tSent - t0) / 1000;
    const pipelineRate = TOTAL / sendSeconds;
    const cpu = Object.fromEntries(procs.map((p, i) => [p.name, Math.round(((cpuAfter[i]! - cpuBefore[i]!) * 1e6) / TOTAL)]));
    const switches = Object.fromEntries(procs.map((p, i) => [p.name, Number(((switchesAfter[i]! - switchesBefore[i]!) / TOTAL).toFixed(1))]));
    const rss = Object.fromEntries(procs.slice(0, 4).map((p, i) => [p.name, Math.round(peakRssMiB(pidSets[i]![0]!))]));
    rss['nats-server'] = Math.round(pidSets[4]!.reduce((s, p) => s + peakRssMiB(p), 0));
    result = {
      emails: TOTAL,
      accounts: ACCOUNTS,
      sendsPerEvent: Number(process.env.BENCH_SENDS_PER_EVENT ?? DEFAULT_SENDS_PER_EVENT),
      sentLingerMs: Number(process.env.BENCH_SENT_LINGER_MS ?? DEFAULT_SENT_LINGER_MS),
      sink: sink.kind,
      pipelineEmailsPerSec: Math.round(pipelineRate),
      // Filled in after the second baseline run.
      baselineEmailsPerSec: 0,
      baselineRuns: [Math.round(base.rate)],
      ratio: 0,
      postSeconds: Number(((tPosted - t0) / 1000).toFixed(2)),
      sendSeconds: Number(sendSeconds.toFixed(2)),
      projectedSeconds: Number(((tProjected - t0) / 1000).toFixed(2)),
      latencyMs: { p50: Math.round(percentile(lat, 50)), p99: Math.round(percentile(lat, 99)) },
      cpuUsPerEmail: cpu,
      cpuUsPerEmailTotal: Object.values(cpu).reduce((a, b) => a + b, 0),
      postgresCpuUsPerEmailByClient: pgByApp,
      baselineCpuUsPerEmail: { baseline: Math.round(base.cpuPerEmailUs), sink: Math.round(base.sinkCpuPerEmailUs) },
      switchesPerEmail: switches,
      switchesPerEmailTotal: Number(Object.values(switches).reduce((a, b) => a + b, 0).toFixed(1)),
      baselineSwitchesPerEmail: Number(base.switchesPerEmail.toFixed(1)),
      peakRssMiB: rss,
      outcomes: states,
      stagesSeconds: stages,
      perAccountGaps: gaps,
    };
  } finally {
    // BENCH_SHOW_LOGS=1: how much each service logged (logging is work too).
    if (process.env.BENCH_SHOW_LOGS) for (const n of ['admin', 'orchestrator', 'sender', 'projector'] as const) console.error(n, platform.logs(n).split('\n').length, platform.logs(n).slice(0, 400));
    await platform.stop();
    // The baseline again, with the platform stopped as it was before: the machine's speed
    // drifts between runs (±15 % seen here), and the ratio is taken against the mean of both.
    if (result) {
      log('baseline again ...');
      const again = await baseline(sink.port, sink.pid);
      log(`baseline: ${again.rate.toFixed(0)} emails/s (${again.seconds.toFixed(1)} s)`);
      result.baselineRuns.push(Math.round(again.rate));
      const mean = (base.rate + again.rate) / 2;
      result.baselineEmailsPerSec = Math.round(mean);
      result.ratio = Number((result.pipelineEmailsPerSec / mean).toFixed(3));
    }
    await sink.close();
    await deleteNamespace(bus, streamSpecs(ns), bucketSpecs(ns));
    await bus.close();
    await db.dispose();
    await testDb.drop();
  }
  if (!result) return;
  const r = result;
  console.log(`\nPostbus send pipeline: ${r.pipelineEmailsPerSec} emails/s (request → 250 for all ${TOTAL}), baseline ${r.baselineEmailsPerSec} emails/s (runs before and after: ${r.baselineRuns.join(', ')}), ratio ${r.ratio}`);
  console.log(`request → 250 latency p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms; all projected after ${r.projectedSeconds} s`);
  console.log(`CPU µs per email: ${Object.entries(r.cpuUsPerEmail).map(([k, v]) => `${k} ${v}`).join(', ')} (total ${r.cpuUsPerEmailTotal})`);
  console.log(`postgres CPU µs per email by client: ${Object.entries(r.postgresCpuUsPerEmailByClient).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`context switches per email: ${Object.entries(r.switchesPerEmail).map(([k, v]) => `${k} ${v}`).join(', ')} (total ${r.switchesPerEmailTotal}; the baseline and its sink ${r.baselineSwitchesPerEmail})`);
  console.log(`peak RSS MiB: ${Object.entries(r.peakRssMiB).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`RESULT ${JSON.stringify(r)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
