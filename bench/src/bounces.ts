// pnpm bench:bounces — two figures for the bounce processor.
// 1. Parsing: the fixture corpus (packages/classify/fixtures/reports, real reports of many
//    receivers) mutated to BENCH_REPORTS reports (default 100,000: addresses and ids changed,
//    header case and folding varied, some cut short, some with noise lines), each parsed and
//    classified by parseReport. Baseline, in the same process over the same inputs: reading each
//    report once as text and splitting it into lines — the least any parser does. Prints both
//    rates and the ratio.
// 2. Delay: a private Postfix and Dovecot on loopback; BENCH_DSNS messages are submitted to
//    unknown users, each carrying the Message-ID of a ledger row; Postfix's own DSNs come back to
//    the sender's mailbox; the bounce processor (in this process, polling every BENCH_POLL_MS)
//    reads them. Measured: submission → suppression row committed, and the processing time of one
//    report mail. Needs root (Postfix) and Debian's postfix and dovecot-imapd (scripts/setup.sh).
// Ends with `RESULT {json}`. Deletes what it created.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { FeedbackPoller } from '@postbus/bounce-processor';
import { parseReport } from '@postbus/classify';
import { newId } from '@postbus/contracts';
import { addMailbox, sql } from '@postbus/db';
import { Keyring, generateMasterKey, parseMasterKeys } from '@postbus/secrets';
import { createLogger } from '@postbus/telemetry';
import { RawSmtpClient, mailServerAvailable, seededRandom, startMailServer, startTestEnvironment, waitFor } from '@postbus/testing';

const REPORTS = Number(process.env.BENCH_REPORTS ?? 100_000);
const DSNS = Number(process.env.BENCH_DSNS ?? 50);
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 500);
const log = (...a: unknown[]) => console.error(...a);
const FIXTURES = fileURLToPath(new URL('../../packages/classify/fixtures/reports/', import.meta.url));

function mutate(source: string, i: number, random: () => number): string {
  let s = source.replace(/([A-Za-z0-9._%+-]+)@/g, (_m, local: string) => `${local.slice(0, 20)}${i % 997}@`);
  s = s.replace(/Message-ID: <[^>]*>/gi, `Message-ID: <msg_${String(i).padStart(26, '0')}@bench.test>`);
  const r = random();
  if (r < 0.1) s = s.slice(0, Math.floor(s.length * (0.3 + random() * 0.6))); // cut short
  else if (r < 0.2) s = s.replace(/\r?\n\r?\n/, `\nX-Noise: ${'n'.repeat(Math.floor(random() * 400))}\n\n`);
  else if (r < 0.3) s = s.replace(/^([A-Za-z-]+):/gm, (_m, name: string) => `${name.toLowerCase()}:`);
  else if (r < 0.35) s = s.replace(/\r?\n/g, '\r\n');
  return s;
}

function corpus(): { sources: string[]; names: string[] } {
  const names = readdirSync(FIXTURES).filter((f) => f.endsWith('.eml')).sort();
  return { names, sources: names.map((f) => readFileSync(path.join(FIXTURES, f), 'latin1')) };
}

function benchParsing(): { reports: number; perSecond: number; baselinePerSecond: number; ratio: number; kinds: Record<string, number>; failed: number; bytes: number } {
  const { sources, names } = corpus();
  log(`parsing: ${names.length} fixtures mutated to ${REPORTS} reports`);
  const random = seededRandom(20261129); // the same corpus on every run
  const SLICE = 10_000;
  let parseMs = 0;
  let baseMs = 0;
  let bytes = 0;
  let failed = 0;
  let sink = 0;
  const kinds: Record<string, number> = {};
  for (let start = 0; start < REPORTS; start += SLICE) {
    const batch: Buffer[] = [];
    for (let i = start; i < Math.min(REPORTS, start + SLICE); i++) batch.push(Buffer.from(mutate(sources[i % sources.length]!, i, random), 'latin1'));
    for (const b of batch) bytes += b.length;
    // Alternate which runs first, so neither gets all the warm caches.
    const runParse = () => {
      const t = performance.now();
      for (const b of batch) {
        try {
          const r = parseReport(b);
          kinds[r.kind] = (kinds[r.kind] ?? 0) + 1;
          sink += r.recipients.length;
        } catch {
          failed++;
        }
      }
      parseMs += performance.now() - t;
    };
    const runBase = () => {
      const t = performance.now();
      for (const b of batch) sink += b.toString('latin1').split('\n').length;
      baseMs += performance.now() - t;
    };
    if ((start / SLICE) % 2 === 0) {
      runParse();
      runBase();
    } else {
      runBase();
      runParse();
    }
  }
  if (sink < 0) log(sink);
  const perSecond = (REPORTS / parseMs) * 1000;
  const baselinePerSecond = (REPORTS / baseMs) * 1000;
  return { reports: REPORTS, perSecond: Math.round(perSecond), baselinePerSecond: Math.round(baselinePerSecond), ratio: Number((perSecond / baselinePerSecond).toFixed(3)), kinds, failed, bytes };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};

async function benchDelay(): Promise<Record<string, number> | { skipped: string }> {
  if (!mailServerAvailable() || process.getuid?.() !== 0) return { skipped: 'needs root and Debian postfix + dovecot-imapd (scripts/setup.sh)' };
  const password = 'bench sender secret';
  const mail = await startMailServer({ domain: 'mail.test', users: [{ user: 'sender', password }] });
  const env = await startTestEnvironment('bench-bounces');
  const controller = new AbortController();
  try {
    const cipher = new Keyring(parseMasterKeys(`k1:${generateMasterKey()}`), 'k1');
    const accountId = newId('acc');
    await addMailbox(env.db, cipher, { accountId, purpose: 'account', host: '127.0.0.1', port: mail.imapPort, tls: 'none', username: 'sender', password });
    // Ledger rows for the messages that will bounce, as the sender leaves them.
    const ids = Array.from({ length: DSNS }, () => newId('msg'));
    for (const [i, id] of ids.entries()) {
      await env.db.query(sql`
        INSERT INTO deliveries (message_id, state, kind, account_id, recipient, subject, requested_at, requested_by, expires_at, outcome_at, header_message_id)
        VALUES (${id}, 'sent', 'bulk', ${accountId}, ${`nobody${i}@mail.test`}, 'bench', now(), 'bench', now() + interval '1 day', now(), ${`<${id}@mail.test>`})`);
    }
    const submitted = new Map<string, number>();
    const processing: number[] = [];
    const suppressedAt = new Map<string, number>();
    // Per report: the time between consecutive reports of one pass (its IMAP fetch and its processing).
    let last = performance.now();
    const timed = new FeedbackPoller(
      { db: env.db, bus: env.bus, log: createLogger({ service: 'bench-bounces', level: 'warn' }), cipher },
      {
        intervalMs: POLL_MS,
        instanceId: 'bench',
        onReport: () => {
          const now = performance.now();
          processing.push(now - last);
          last = now;
        },
      },
    );
    const running = timed.run(controller.signal);
    const { client } = await RawSmtpClient.connect(mail.smtpPort);
    await client.command('EHLO bench.test');
    await client.authPlain('sender', password);
    for (const [i, id] of ids.entries()) {
      submitted.set(id, performance.now());
      const body = `From: sender@mail.test\r\nTo: nobody${i}@mail.test\r\nSubject: bench ${i}\r\nMessage-ID: <${id}@mail.test>\r\n\r\nHello.\r\n`;
      const tx = await client.transaction('sender@mail.test', [`nobody${i}@mail.test`], body);
      if (tx.end?.code !== 250) throw new Error(`submission refused: ${JSON.stringify(tx)}`);
      // Spread over time, as bounces arrive: one every 40 ms.
      await new Promise((r) => setTimeout(r, 40));
    }
    await client.quit();
    await waitFor(
      async () => {
        const rows = await env.db.query(sql`
          SELECT d.message_id, (extract(epoch FROM s.created_at) * 1000)::float8 AS at
          FROM deliveries d JOIN suppressions s ON s.address = lower(d.recipient)`);
        for (const r of rows) if (!suppressedAt.has(r.message_id as string)) suppressedAt.set(r.message_id as string, performance.now());
        return suppressedAt.size >= DSNS;
      },
      { timeoutMs: 120_000, intervalMs: 20, message: 'not every DSN suppressed its address' },
    );
    controller.abort();
    await running;
    const delays = ids.map((id) => suppressedAt.get(id)! - submitted.get(id)!);
    return {
      dsns: DSNS,
      pollIntervalMs: POLL_MS,
      submitToSuppressedP50Ms: Math.round(pct(delays, 50)),
      submitToSuppressedP99Ms: Math.round(pct(delays, 99)),
      submitToSuppressedMaxMs: Math.round(Math.max(...delays)),
      perReportReadAndProcessedMsP50: Number(pct(processing.slice(1), 50).toFixed(2)),
    };
  } finally {
    controller.abort();
    await env.close();
    await mail.stop();
  }
}

const parsing = benchParsing();
log(`parsed ${parsing.reports} reports (${(parsing.bytes / 1e6).toFixed(0)} MB): ${parsing.perSecond}/s; baseline (read as text, split into lines) ${parsing.baselinePerSecond}/s; ratio ${parsing.ratio}; thrown ${parsing.failed}`);
log(`kinds: ${JSON.stringify(parsing.kinds)}`);
const delay = await benchDelay();
log(`delay: ${JSON.stringify(delay)}`);
console.log(`RESULT ${JSON.stringify({ parsing, delay })}`);
