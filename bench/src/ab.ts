// pnpm bench:send:ab <base-ref> [pairs] — bench:send for two builds, interleaved: the base
// ref (built in a worktree of its own under the system's temp directory) and this checkout,
// `pairs` times each (default 4), base first. This machine's speed drifts by more than most
// changes are worth (±7 % between two runs of one build), so a single before/after pair says
// little; interleaving spreads the drift over both sides. Prints each run's line and, per
// figure, both means and the change. Not a test: nothing is asserted.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface BenchResult {
  readonly pipelineEmailsPerSec: number;
  readonly ratio: number;
  readonly cpuUsPerEmailTotal: number;
  readonly cpuUsPerEmail: Record<string, number>;
  readonly postgresCpuUsPerEmailByClient: Record<string, number>;
  /** Absent from builds before session 10. */
  readonly switchesPerEmailTotal?: number;
}

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const [baseRef, pairsArg] = process.argv.slice(2);
if (!baseRef) {
  console.error('usage: pnpm bench:send:ab <base-ref> [pairs]   (e.g. pnpm bench:send:ab HEAD~1 4)');
  process.exit(2);
}
const pairs = Number(pairsArg ?? 4);
if (!Number.isInteger(pairs) || pairs < 1 || pairs > 20) {
  console.error('pairs must be a whole number from 1 to 20');
  process.exit(2);
}

const run = (cmd: string, args: string[], cwd: string) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
const commit = execFileSync('git', ['rev-parse', '--verify', `${baseRef}^{commit}`], { cwd: root, encoding: 'utf8' }).trim();
const dir = mkdtempSync(join(tmpdir(), 'postbus-ab-'));
const base = join(dir, 'base');

function benchOnce(cwd: string): BenchResult {
  const out = spawnSync('node', ['bench/dist/send.js'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15 * 60_000 });
  const line = out.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`bench:send in ${cwd} printed no RESULT (exit ${out.status}):\n${out.stderr.slice(-2000)}`);
  return JSON.parse(line.slice('RESULT '.length)) as BenchResult;
}

/** The figures compared: rate, ratio, CPU per email in all and per process, Postgres per client. */
function figures(r: BenchResult): Record<string, number> {
  const f: Record<string, number> = { 'emails/s': r.pipelineEmailsPerSec, ratio: r.ratio, 'cpu µs/email': r.cpuUsPerEmailTotal };
  for (const [k, v] of Object.entries(r.cpuUsPerEmail)) f[`  ${k}`] = v;
  for (const [k, v] of Object.entries(r.postgresCpuUsPerEmailByClient)) if (k !== 'postbus' && k !== 'admin') f[`  postgres for ${k}`] = v;
  if (r.switchesPerEmailTotal !== undefined) f['context switches/email'] = r.switchesPerEmailTotal;
  return f;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

try {
  console.error(`base ${baseRef} (${commit.slice(0, 12)}): worktree in ${base}, installing and building ...`);
  run('git', ['worktree', 'add', '--detach', base, commit], root);
  run('pnpm', ['install', '--frozen-lockfile', '--prefer-offline'], base);
  run('pnpm', ['build'], base);
  console.error('this checkout: building ...');
  run('pnpm', ['build'], root);
  const results: Record<'base' | 'new', Array<Record<string, number>>> = { base: [], new: [] };
  for (let i = 1; i <= pairs; i++) {
    for (const side of ['base', 'new'] as const) {
      const f = figures(benchOnce(side === 'base' ? base : root));
      results[side].push(f);
      console.log(`${side} ${i}: ${f['emails/s']} emails/s, ratio ${f.ratio}, ${f['cpu µs/email']} µs CPU per email`);
    }
  }
  // Each side's range (lowest–highest) beside its mean: a change inside both ranges is drift.
  const range = (xs: number[], digits: number) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
  console.log(`\n${`figure (mean of ${pairs} runs each)`.padEnd(32)}${'base'.padStart(8)}${'range'.padStart(14)}${'new'.padStart(8)}${'range'.padStart(14)}${'change'.padStart(9)}`);
  for (const k of new Set([...Object.keys(results.base[0]!), ...Object.keys(results.new[0]!)])) {
    const bs = results.base.map((f) => f[k] ?? 0);
    const ns = results.new.map((f) => f[k] ?? 0);
    const [b, n] = [mean(bs), mean(ns)];
    const d = k === 'ratio' ? 3 : k === 'context switches/email' ? 1 : 0;
    const change = b === 0 ? '' : `${(((n - b) / b) * 100).toFixed(1)} %`;
    console.log(`${k.padEnd(32)}${b.toFixed(d).padStart(8)}${range(bs, d).padStart(14)}${n.toFixed(d).padStart(8)}${range(ns, d).padStart(14)}${change.padStart(9)}`);
  }
  console.log(`RESULT ${JSON.stringify({ base: commit, pairs, results })}`);
} finally {
  if (existsSync(base)) spawnSync('git', ['worktree', 'remove', '--force', base], { cwd: root, stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}
