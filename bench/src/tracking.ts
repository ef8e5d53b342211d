// pnpm bench:tracking — open-pixel requests per second against the tracking service (in this
// process, its own namespace and database, its rate limit far above the offered load), and the
// same load against a bare fastify route answering the same GIF. A fixed number of keep-alive
// connections on loopback, each sending its next request when the last is answered, for a fixed
// time. Every request carries an open token of its own message (so every 200 is a distinct
// fact); afterwards the EmailOpened events stored are counted and compared with the 200s. Prints
// both rates, the ratio and p99 latency; ends with `RESULT {json}`. Deletes what it created.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { newId, streamName } from '@postbus/contracts';
import { TokenKeyring, generateMasterKey, parseMasterKeys } from '@postbus/secrets';
import { createLogger } from '@postbus/telemetry';
import { startTestEnvironment } from '@postbus/testing';
import { PIXEL, buildTracking, ensureOutbox } from '@postbus/tracking';
import Fastify from 'fastify';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
/** Open URLs made before the load (the load loop shares the process: issuing tokens in it would slow both runs). */
const PREPARED = Number(process.env.BENCH_PREPARED ?? 150_000);
const log = (...a: unknown[]) => console.error(...a);

interface LoadResult {
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
    requests: latencies.length,
    ok,
    other,
    errors,
    perSecond: Math.round(ok / elapsed),
    p50Ms: Number(quantile(sorted, 0.5).toFixed(2)),
    p99Ms: Number(quantile(sorted, 0.99).toFixed(2)),
  };
}

async function main(): Promise<void> {
  const env = await startTestEnvironment('bench-tracking');
  const tokens = TokenKeyring.fromMasterKeys(parseMasterKeys(`k1:${generateMasterKey()}`), 'k1');
  // Each request a message of its own: opens of one message within a minute are one fact.
  const issuePath = () => `/track/open/${tokens.issue('open', { messageId: newId('msg'), accountId: newId('acc') })}`;
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
      db: env.db,
      tokens,
      log: createLogger({ service: 'tracking', level: 'warn' }),
      rateLimit: { perSecond: 1e9, burst: 1e9 },
    });
  })();
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

    log(`bare fastify: ${WARMUP_SECONDS} s warm-up, ${SECONDS} s at ${CONCURRENCY} connections ...`);
    await load(barePort, barePath, WARMUP_SECONDS);
    const bareRun = await load(barePort, barePath, SECONDS);
    log(`  ${bareRun.perSecond}/s, p50 ${bareRun.p50Ms} ms, p99 ${bareRun.p99Ms} ms`);

    log(`tracking: ${WARMUP_SECONDS} s warm-up, ${SECONDS} s at ${CONCURRENCY} connections ...`);
    const warm = await load(trackingPort, nextPath, WARMUP_SECONDS);
    const trackingRun = await load(trackingPort, nextPath, SECONDS);
    log(`  ${trackingRun.perSecond}/s, p50 ${trackingRun.p50Ms} ms, p99 ${trackingRun.p99Ms} ms`);

    // Closing flushes the buffered opens and waits for their acknowledgements.
    await tracking.close();
    trackingClosed = true;
    const answered = warm.ok + trackingRun.ok;
    const { state } = await env.bus.jsm.streams.info(streamName(env.ns, 'TRACKING'));
    const stored = state.messages;
    const ratio = Number((trackingRun.perSecond / bareRun.perSecond).toFixed(3));
    if (used > PREPARED) log(`(${used - PREPARED} URLs issued during the load: raise BENCH_PREPARED)`);
    log(`ratio ${ratio}; EmailOpened stored ${stored} for ${answered} answered 200 (lost ${answered - stored})`);
    const result = {
      seconds: SECONDS,
      concurrency: CONCURRENCY,
      tracking: trackingRun,
      bare: bareRun,
      ratio,
      answered200: answered,
      storedEvents: stored,
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
