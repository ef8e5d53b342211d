// pnpm bench:tracking — open-pixel requests per second against the tracking service (in this
// process, its own namespace and database, its rate limit far above the offered load), and the
// same load against a bare fastify route answering the same GIF. A fixed number of keep-alive
// connections on loopback, each sending its next request when the last is answered, for a fixed
// time. Every request carries an open token of its own message (so every 200 is a distinct
// fact), the messages spread over BENCH_ACCOUNTS sender accounts (the service writes one
// OpensRecorded per account and flush); afterwards the opens stored (inside the OpensRecorded
// events, distinct open ids) are counted and compared with the 200s the service answered
// (counted by the server, so requests cut off at the end count as they should).
// The load comes from wrk (Debian's, a separate process) when it is installed, else from an
// in-process Node client (BENCH_CLIENT=node|wrk). After a warm-up of each, BENCH_SECONDS are cut
// into BENCH_ROUNDS rounds, bare and tracking alternating (the machine is shared: a change in its
// load falls on both). Prints both rates, the ratio, p99 latency and this process's CPU per
// request (and the ratio of those, which load moves less); ends with `RESULT {json}`. Deletes
// what it created.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { openCursor, type Bus } from '@postbus/bus';
import { decodeEvent, newId, streamName } from '@postbus/contracts';
import { TokenKeyring, generateMasterKey, parseMasterKeys } from '@postbus/secrets';
import { createLogger } from '@postbus/telemetry';
import { sharedNatsUrl, startTestEnvironment } from '@postbus/testing';
import { PIXEL, buildTracking, ensureOutbox } from '@postbus/tracking';
import Fastify from 'fastify';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
/**
 * The measured time is cut into rounds, bare and tracking alternating, so that a change in the
 * machine's load (it is shared) falls on both alike; rates are totals over the rounds.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SLICE_SECONDS = Math.max(1, Math.round(SECONDS / ROUNDS));
/** Sender accounts the messages belong to (opens are batched per account). */
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 100);
/** Open URLs made before the load (the load loop shares the process: issuing tokens in it would slow both runs). */
const PREPARED = Number(process.env.BENCH_PREPARED ?? 400_000);
const CLIENT = process.env.BENCH_CLIENT ?? (existsSync('/usr/bin/wrk') ? 'wrk' : 'node');
const log = (...a: unknown[]) => console.error(...a);

interface LoadResult {
  readonly seconds: number;
  readonly requests: number;
  readonly ok: number;
  readonly other: number;
  readonly errors: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

function get(agent: http.Agent, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** CONCURRENCY loops, each one request at a time, for `seconds`. */
async function load(port: number, nextPath: () => string, seconds: number): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies: number[] = [];
  let ok = 0;
  let other = 0;
  let errors = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const status = await get(agent, port, nextPath());
          if (status === 200) ok++;
          else other++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  const sorted = Float64Array.from(latencies).sort();
  return {
    seconds: elapsed,
    requests: latencies.length,
    ok,
    other,
    errors,
    perSecond: Math.round(ok / elapsed),
    p50Ms: Number(quantile(sorted, 0.5).toFixed(2)),
    p99Ms: Number(quantile(sorted, 0.99).toFixed(2)),
  };
}

/** wrk: one thread, CONCURRENCY connections, the paths file read in order from `start` (each path once). */
const WRK_SCRIPT = `
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local i = tonumber(os.getenv("BENCH_START") or "0")
request = function()
  i = i + 1
  return wrk.format("GET", paths[((i - 1) % #paths) + 1])
end
`;

async function loadWrk(port: number, pathsFile: string, scriptFile: string, start: number, seconds: number): Promise<LoadResult> {
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      'wrk',
      ['-t1', `-c${CONCURRENCY}`, `-d${seconds}s`, '--latency', '-s', scriptFile, `http://127.0.0.1:${port}`],
      { env: { ...process.env, BENCH_PATHS: pathsFile, BENCH_START: String(start) }, maxBuffer: 1 << 20 },
      (err, stdout) => (err ? reject(new Error(`wrk failed: ${err.message}`)) : resolve(stdout)),
    ),
  );
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
  const ms = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) return 0;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const requests = num(/(\d+) requests in/);
  const other = num(/Non-2xx or 3xx responses: (\d+)/);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)?.slice(1).reduce((a, b) => a + Number(b), 0) ?? 0;
  const elapsed = ms(/requests in ([\d.]+)(us|ms|s)/) / 1000 || seconds;
  return {
    seconds: elapsed,
    requests,
    ok: requests - other,
    other,
    errors,
    perSecond: Math.round((requests - other) / elapsed),
    p50Ms: Number(ms(/ 50%\s+([\d.]+)(us|ms|s)/).toFixed(2)),
    p99Ms: Number(ms(/ 99%\s+([\d.]+)(us|ms|s)/).toFixed(2)),
  };
}

interface Measured extends LoadResult {
  /** CPU (user and system) of this process per request answered: it serves both routes (and, with BENCH_CLIENT=node, is the client too). */
  readonly cpuUsPerRequest: number;
}

async function measured(run: () => Promise<LoadResult>): Promise<Measured> {
  const before = process.cpuUsage();
  const r = await run();
  const { user, system } = process.cpuUsage(before);
  return { ...r, cpuUsPerRequest: Number(((user + system) / Math.max(1, r.requests)).toFixed(1)) };
}

/** Totals over the rounds; p50 the median of theirs, p99 the worst. */
function combined(slices: readonly Measured[]): Measured {
  const sum = (f: (m: Measured) => number) => slices.reduce((a, m) => a + f(m), 0);
  const p50s = slices.map((m) => m.p50Ms).sort((a, b) => a - b);
  const requests = sum((m) => m.requests);
  return {
    seconds: Number(sum((m) => m.seconds).toFixed(2)),
    requests,
    ok: sum((m) => m.ok),
    other: sum((m) => m.other),
    errors: sum((m) => m.errors),
    perSecond: Math.round(sum((m) => m.ok) / sum((m) => m.seconds)),
    p50Ms: p50s[Math.floor(p50s.length / 2)] ?? 0,
    p99Ms: Math.max(0, ...slices.map((m) => m.p99Ms)),
    cpuUsPerRequest: Number((sum((m) => m.cpuUsPerRequest * m.requests) / Math.max(1, requests)).toFixed(1)),
  };
}

/** The distinct opens stored in the stream (inside OpensRecorded events, or EmailOpened ones), and the events they came in. */
async function storedOpens(bus: Bus, stream: string): Promise<{ events: number; opens: number }> {
  const last = (await bus.jsm.streams.info(stream)).state.last_seq;
  const ids = new Set<string>();
  let events = 0;
  if (last === 0) return { events, opens: 0 };
  const cursor = await openCursor(bus, stream, 1);
  try {
    for (let seq = 0; seq < last; ) {
      for (const m of await cursor.next(1_000, 5_000)) {
        seq = m.seq;
        events++;
        const e = decodeEvent(m.data);
        if (e.type === 'OpensRecorded') for (const o of e.data.opens) ids.add(o.id);
        else if (e.type === 'EmailOpened') ids.add(e.id);
      }
    }
  } finally {
    await cursor.close();
  }
  return { events, opens: ids.size };
}

async function main(): Promise<void> {
  const env = await startTestEnvironment('bench-tracking');
  const tokens = TokenKeyring.fromMasterKeys(parseMasterKeys(`k1:${generateMasterKey()}`), 'k1');
  // Each request a message of its own (opens of one message within a minute are one fact), of one of ACCOUNTS accounts.
  const accounts = Array.from({ length: ACCOUNTS }, () => newId('acc'));
  let issued = 0;
  const issuePath = () => `/track/open/${tokens.issue('open', { messageId: newId('msg'), accountId: accounts[issued++ % ACCOUNTS]! })}`;
  log(`preparing ${PREPARED} open URLs ...`);
  const prepared = Array.from({ length: PREPARED }, issuePath);
  let used = 0;
  // Past the prepared ones (a faster machine), URLs are issued on the fly: still unique.
  const nextPath = () => prepared[used++] ?? issuePath();
  // The bare route ignores the token: it gets the same URLs again.
  let bareUsed = 0;
  const barePath = () => prepared[bareUsed++ % PREPARED]!;
  const tracking = await (async () => {
    await ensureOutbox(env.db);
    return buildTracking({
      bus: env.bus,
      natsServers: [sharedNatsUrl()], // opens decoded and published in the open worker, as in the service
      db: env.db,
      tokens,
      log: createLogger({ service: 'tracking', level: 'warn' }),
      rateLimit: { perSecond: 1e9, burst: 1e9 },
    });
  })();
  // The 200s the service answered, counted where they are answered.
  let answered = 0;
  tracking.server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.once('finish', () => {
      if (res.statusCode === 200 && req.url?.startsWith('/track/open/')) answered++;
    });
  });
  const bare = Fastify({ logger: false });
  bare.get('/track/open/:token', (_request, reply) =>
    reply.code(200).header('content-type', 'image/gif').header('cache-control', 'no-store, no-cache, must-revalidate, private').send(PIXEL),
  );
  let trackingClosed = false;
  try {
    await tracking.listen({ host: '127.0.0.1', port: 0 });
    await bare.listen({ host: '127.0.0.1', port: 0 });
    const trackingPort = (tracking.server.address() as AddressInfo).port;
    const barePort = (bare.server.address() as AddressInfo).port;

    let bareRun: Measured;
    let trackingRun: Measured;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'postbus-bench-'));
    try {
      let runBare: (seconds: number) => Promise<LoadResult>;
      let runTracking: (seconds: number) => Promise<LoadResult>;
      if (CLIENT === 'wrk') {
        const pathsFile = path.join(dir, 'paths.txt');
        const scriptFile = path.join(dir, 'open.lua');
        writeFileSync(pathsFile, prepared.join('\n') + '\n');
        writeFileSync(scriptFile, WRK_SCRIPT);
        log(`client: wrk (1 thread, ${CONCURRENCY} connections)`);
        runBare = (seconds) => loadWrk(barePort, pathsFile, scriptFile, 0, seconds);
        // Each run starts past the paths the last may have sent (wrk counts only completed ones): none is sent twice.
        runTracking = async (seconds) => {
          const r = await loadWrk(trackingPort, pathsFile, scriptFile, used, seconds);
          used += r.requests + CONCURRENCY;
          return r;
        };
      } else {
        log(`client: in-process Node (${CONCURRENCY} connections)`);
        runBare = (seconds) => load(barePort, barePath, seconds);
        runTracking = (seconds) => load(trackingPort, nextPath, seconds);
      }
      log(`warm-up: ${WARMUP_SECONDS} s each; then ${ROUNDS} rounds of ${SLICE_SECONDS} s bare, ${SLICE_SECONDS} s tracking ...`);
      await runBare(WARMUP_SECONDS);
      await runTracking(WARMUP_SECONDS);
      const bareSlices: Measured[] = [];
      const trackingSlices: Measured[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        bareSlices.push(await measured(() => runBare(SLICE_SECONDS)));
        trackingSlices.push(await measured(() => runTracking(SLICE_SECONDS)));
        log(`  round ${round + 1}: bare ${bareSlices.at(-1)!.perSecond}/s, tracking ${trackingSlices.at(-1)!.perSecond}/s`);
      }
      bareRun = combined(bareSlices);
      trackingRun = combined(trackingSlices);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    log(`bare: ${bareRun.perSecond}/s, p50 ${bareRun.p50Ms} ms, p99 ${bareRun.p99Ms} ms, ${bareRun.cpuUsPerRequest} µs CPU (this process) per request`);
    log(`tracking: ${trackingRun.perSecond}/s, p50 ${trackingRun.p50Ms} ms, p99 ${trackingRun.p99Ms} ms, ${trackingRun.cpuUsPerRequest} µs CPU (this process) per request`);

    // Closing flushes the buffered opens and waits for their acknowledgements.
    await tracking.close();
    trackingClosed = true;
    const { events, opens: stored } = await storedOpens(env.bus, streamName(env.ns, 'TRACKING'));
    const ratio = Number((trackingRun.perSecond / bareRun.perSecond).toFixed(3));
    const cpuRatio = Number((bareRun.cpuUsPerRequest / trackingRun.cpuUsPerRequest).toFixed(3));
    if (used > PREPARED) log(`(${used - PREPARED} URLs issued during the load: raise BENCH_PREPARED)`);
    log(`ratio ${ratio} (by CPU per request: ${cpuRatio}); opens stored ${stored} (in ${events} events) for ${answered} answered 200 (lost ${answered - stored})`);
    const result = {
      client: CLIENT,
      seconds: SECONDS,
      concurrency: CONCURRENCY,
      tracking: trackingRun,
      bare: bareRun,
      ratio,
      cpuRatio,
      rounds: ROUNDS,
      accounts: ACCOUNTS,
      answered200: answered,
      storedEvents: events,
      storedOpens: stored,
      lostEvents: answered - stored,
    };
    console.log(`RESULT ${JSON.stringify(result)}`);
  } finally {
    if (!trackingClosed) await tracking.close();
    await bare.close();
    await env.close();
  }
}

await main();
