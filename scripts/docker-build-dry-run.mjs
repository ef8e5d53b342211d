#!/usr/bin/env node
// Runs the Dockerfile's build stage without Docker (for machines that have none): its WORKDIR,
// ENV, COPY and RUN instructions in order, in a temporary directory standing for /app, with a
// fresh pnpm store (so `pnpm fetch` then `--offline` is really exercised) and the build context
// filtered by .dockerignore. Then checks the pruned tree the runtime stage copies: every entry
// point compose names loads all its imports with production dependencies only (each is started
// with a deliberately invalid POSTBUS_NAMESPACE: ESM links every import before the first line
// runs, so a missing module fails differently from the configuration error expected).
//
//   node scripts/docker-build-dry-run.mjs [--keep]      (needs the npm registry for `pnpm fetch`)
//
// Not covered: the base image, apt-get (tini), USER and the image's size; `npm i -g pnpm@...`
// installs into the temporary directory, not globally.
import { execSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'postbus-docker-'));
const app = join(work, 'app');
// A fresh HOME as well: no pnpm state, cache or .npmrc of this machine's.
const env = { ...process.env, HOME: join(work, 'home'), pnpm_config_store_dir: join(work, 'store'), npm_config_prefix: join(work, 'npm-global') };
env.PATH = `${join(work, 'npm-global/bin')}:${env.PATH}`;

const ignore = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const patterns = ignore.map((p) => new RegExp(`^${p.replace(/[.+^${}()|[\]]/g, '\\$&').replace(/\*\*\//g, '(.*/)?').replace(/\*/g, '[^/]*')}(/.*)?$`));
const inContext = (src) => {
  const rel = relative(root, src);
  return rel === '' || !patterns.some((re) => re.test(rel));
};

const text = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const stages = [];
for (const line of lines) {
  const [op, ...rest] = line.split(/\s+/);
  if (op.toUpperCase() === 'FROM') stages.push([]);
  else stages.at(-1)?.push({ op: op.toUpperCase(), args: rest.join(' ') });
}
const build = stages[0];
execSync(`mkdir -p ${app} ${env.HOME}`);
console.log(`dry run of the Dockerfile's build stage in ${work}`);
for (const { op, args } of build) {
  console.log(`> ${op} ${args}`);
  if (op === 'WORKDIR') continue; // always /app, standing in for the temporary app directory
  if (op === 'ENV') for (const [, k, v] of args.matchAll(/(\w+)=(\S+)/g)) env[k] = v;
  if (op === 'COPY') {
    const words = args.split(/\s+/).filter((w) => !w.startsWith('--'));
    for (const src of words.slice(0, -1)) cpSync(join(root, src), join(app, src === '.' ? '' : src), { recursive: true, filter: inContext });
  }
  if (op === 'RUN') {
    const r = spawnSync('sh', ['-ec', args], { cwd: app, env, stdio: 'inherit' });
    if (r.status !== 0) {
      console.error(`RUN failed (exit ${r.status}); the tree is left in ${work}`);
      process.exit(1);
    }
  }
}

// The runtime stage copies /app as it is now: load every entry point compose names.
const compose = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
const entries = [...new Set([...compose.matchAll(/\b((?:services|packages)\/[\w-]+\/dist\/main\.js)\b/g)].map((m) => m[1]))];
let failed = 0;
for (const entry of entries) {
  const r = spawnSync(process.execPath, [entry, ...(entry.startsWith('packages/cli/') ? ['migrate'] : [])], { cwd: app, env: { PATH: env.PATH, NODE_ENV: 'production', POSTBUS_NAMESPACE: 'NOT-VALID' }, encoding: 'utf8', timeout: 30_000 });
  const out = `${r.stdout}${r.stderr}`;
  const ok = /POSTBUS_NAMESPACE must be/.test(out) && !/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/.test(out);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${entry}${ok ? '' : `\n${out.slice(-2000)}`}`);
  if (!ok) failed++;
}
console.log(`pruned tree: ${execSync(`du -sh ${app}`).toString().split('\t')[0]}, node_modules ${execSync(`du -sh ${join(app, 'node_modules')}`).toString().split('\t')[0]}`);
if (process.argv.includes('--keep')) console.log(`kept ${work}`);
else rmSync(work, { recursive: true, force: true });
console.log(failed ? `${failed} entry point(s) failed` : `${entries.length} entry points load with production dependencies`);
process.exit(failed ? 1 : 0);
