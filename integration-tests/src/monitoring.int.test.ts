import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';

/**
 * deploy/prometheus/alerts.yml and deploy/grafana/dashboards/postbus.json against what the
 * services export: every postbus_* metric they name exists (packages/telemetry/src/metrics.ts),
 * prometheus.yml loads the rules, and — where promtool is installed (Debian's `prometheus`
 * package) — the rules, the configuration and every dashboard query parse as Prometheus does.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (p: string) => readFileSync(join(root, p), 'utf8');
// Parsed YAML and JSON: their shape is what the tests check.
type Json = any;

const exported = new Set([...read('packages/telemetry/src/metrics.ts').matchAll(/name: '(postbus_[a-z0-9_]+)'/g)].map((m) => m[1]!));
const rules = parse(read('deploy/prometheus/alerts.yml'));
const dashboard: Json = JSON.parse(read('deploy/grafana/dashboards/postbus.json'));
const alerts: Array<{ alert: string; expr: string }> = rules.groups.flatMap((g: Json) => g.rules);
const panels: Json[] = dashboard.panels;
const queries: string[] = panels.flatMap((p) => p.targets.map((t: Json) => t.expr as string));
const promtool = spawnSync('promtool', ['--version']).status === 0;

/** The postbus_* series an expression reads, with the histogram and counter suffixes Prometheus adds taken off. */
const namesIn = (expr: string) => [...expr.matchAll(/\b(postbus_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, ''));

describe('Prometheus rules and Grafana dashboard', () => {
  it("the alert rules cover the seed's rules, projection lag and storage, on metrics the services export", () => {
    expect(exported.size).toBeGreaterThan(15);
    for (const a of alerts) for (const n of namesIn(a.expr)) expect(exported, `${a.alert}: ${n}`).toContain(n);
    const exprOf = (name: string) => alerts.find((a) => a.alert === name)?.expr ?? '';
    expect(exprOf('PostbusBounceRateHigh')).toMatch(/postbus_bounce_rate.*> 0\.05/);
    expect(exprOf('PostbusAccountSuspended')).toMatch(/state="suspended"/);
    expect(exprOf('PostbusQueueDepthHigh')).toMatch(/postbus_queue_depth.*> 10000/);
    expect(exprOf('PostbusWorkerRestarting')).toMatch(/increase\(postbus_worker_restarts_total\[1h\]\)\) > 3/);
    expect(exprOf('PostbusProjectionLagging')).toContain('postbus_projection_lag_messages');
    expect(alerts.some((a) => a.expr.includes('postbus_jetstream_storage_bytes'))).toBe(true);
    expect(alerts.some((a) => a.expr.includes('postbus_postgres_database_bytes'))).toBe(true);
  });

  it('prometheus.yml loads alerts.yml from the directory compose mounts', () => {
    const config = parse(read('deploy/prometheus/prometheus.yml'));
    const compose = parse(read('docker-compose.yml'));
    const mount = (compose.services.prometheus.volumes as string[]).find((v) => v.startsWith('./deploy/prometheus:'))!;
    const dir = mount.split(':')[1]!;
    const globs = (config.rule_files as string[]).map((g) => new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`));
    expect(globs.some((g) => g.test(`${dir}/alerts.yml`))).toBe(true);
  });

  it('the dashboard uses the prometheus data source and every metric it charts is exported', () => {
    expect(dashboard.uid).toBeTruthy();
    const titles = panels.map((p) => p.title as string).join(' | ');
    for (const t of ['Sends/s by outcome', 'Queue depth', 'Dispatch wait', 'Projection lag', 'Tracking hits', 'Hard-bounce rate', 'Complaint rate', 'Worker restarts', 'Alerts raised', 'Event-loop lag']) expect(titles).toContain(t);
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: 'prometheus' });
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets) for (const n of namesIn(t.expr)) expect(exported, `${p.title}: ${n}`).toContain(n);
    }
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
  });

  it.runIf(promtool)('promtool: the rules, the configuration with its rules, and every dashboard query parse', () => {
    const check = (...args: string[]) => {
      const r = spawnSync('promtool', args, { encoding: 'utf8' });
      expect(r.status, `promtool ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
    };
    check('check', 'rules', join(root, 'deploy/prometheus/alerts.yml'));
    const dir = mkdtempSync(join(tmpdir(), 'postbus-prom-'));
    try {
      // The configuration as compose mounts it: rule_files pointed at this checkout.
      const config = parse(read('deploy/prometheus/prometheus.yml'));
      config.rule_files = [join(root, 'deploy/prometheus/alerts*.yml')];
      // promtool checks that a credentials file exists: the compose secret, here a stand-in.
      writeFileSync(join(dir, 'metrics-token'), 'token');
      for (const job of config.scrape_configs as Array<{ authorization?: { credentials_file?: string } }>) {
        if (job.authorization?.credentials_file) job.authorization.credentials_file = join(dir, 'metrics-token');
      }
      writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
      check('check', 'config', join(dir, 'prometheus.yml'));
      // Dashboard queries as recording rules, Grafana's variables filled in: promtool parses each.
      const recorded = queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: q.replaceAll('$__rate_interval', '5m').replaceAll('$account', '.*') }));
      writeFileSync(join(dir, 'dashboard-queries.yml'), stringify({ groups: [{ name: 'dashboard', rules: recorded }] }));
      check('check', 'rules', join(dir, 'dashboard-queries.yml'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
