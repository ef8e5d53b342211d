import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountDirectory, executeAccountCommand, openNodesBucket, type JsMsg, type NodesBucket } from '@postbus/bus';
import { DEFAULT_RUNTIME_SETTINGS, encodeEvent, newId, type AccountState, type FaultReported, type NodeLease, type SendingSettings } from '@postbus/contracts';
import { acquireLeadership, readAssignments, recordWorkerRestart, sql, type Leadership } from '@postbus/db';
import { silentLogger } from '@postbus/telemetry';
import { startTestEnvironment, type TestEnvironment } from '@postbus/testing';
import { Alerter } from './alerts.js';
import { Supervisor } from './supervisor.js';

const T = new Date('2026-06-01T10:00:00.000Z');
const settings: SendingSettings = { dailyLimit: 10, batchSize: 5, sendDelayMs: 0, postalAddress: '1 Street', fromName: null };
const smtp = { host: 'smtp.test', port: 25, tls: 'none' as const, user: 'u', secretId: 'sec_01J00000000000000000000000' };

/** A JetStream message as the consumer loop hands it over: only what the handler touches. */
function delivered(event: FaultReported): JsMsg & { acked: boolean } {
  const m = { data: encodeEvent(event), seq: 1, acked: false, ack: () => void (m.acked = true), term: () => undefined };
  return m as unknown as JsMsg & { acked: boolean };
}

describe('the supervisor (leader duties) against real NATS and Postgres', () => {
  let env: TestEnvironment;
  let directory: AccountDirectory;
  let nodes: NodesBucket;
  let lead: Leadership;
  let now = T;
  let supervisor: Supervisor;

  const register = async (name: string, extra: Partial<SendingSettings> = {}): Promise<string> => {
    const accountId = newId('acc');
    await executeAccountCommand(env.bus, { type: 'RegisterAccount', accountId, name, fromAddress: `${name}@sender.test`, smtp, settings: { ...settings, ...extra }, actor: 'test' }, now);
    await directory.sync();
    return accountId;
  };
  const state = async (id: string): Promise<AccountState> => {
    await directory.sync();
    return directory.get(id)!;
  };
  const announce = (nodeId: string, capacity: number) => {
    const lease: NodeLease = { nodeId, instance: 'x', capacity, accounts: 0, startedAt: T.toISOString(), renewedAt: T.toISOString() };
    return nodes.put(nodeId, JSON.stringify(lease));
  };

  beforeAll(async () => {
    env = await startTestEnvironment('supervisor-test');
    directory = await AccountDirectory.start(env.bus, silentLogger());
    nodes = await openNodesBucket(env.bus);
    lead = (await acquireLeadership(env.db, 'test-leader', 60_000))!;
    const clock = () => now;
    const alerter = new Alerter({ bus: env.bus, db: env.db, log: silentLogger(), clock, notifiers: [] });
    supervisor = new Supervisor({ bus: env.bus, db: env.db, directory, log: silentLogger(), clock, alerter, nodes, graceMs: 3_000, settings: () => ({ ...DEFAULT_RUNTIME_SETTINGS, backlogAlertThreshold: 0 }) });
  }, 30_000);
  afterAll(async () => {
    await directory?.stop();
    await env?.close();
  });

  it('places accounts evenly on live nodes, off stopped accounts, and away from a node whose lease is gone', async () => {
    const [a, b, c] = [await register('pa'), await register('pb'), await register('pc')];
    await announce('node-a', 2);
    await announce('node-b', 2);
    await supervisor.place(lead);
    let placed = await readAssignments(env.db, [a, b, c]);
    const counts = [...placed.values()].reduce<Record<string, number>>((m, p) => ({ ...m, [p.nodeId!]: (m[p.nodeId!] ?? 0) + 1 }), {});
    expect(Object.values(counts).sort()).toEqual([1, 2]);
    for (const p of placed.values()) expect(p).toMatchObject({ epoch: 1, leaderEpoch: lead.epoch, prevReleased: true });

    // A node dies: its accounts go to the other one, which waits out the grace (the dead one cannot release).
    const victim = [...placed.values()].find((p) => p.nodeId === 'node-a')!;
    await nodes.purge('node-a');
    await announce('node-b', 10);
    await supervisor.place(lead);
    placed = await readAssignments(env.db, [a, b, c]);
    const moved = placed.get(victim.accountId)!;
    expect(moved).toMatchObject({ nodeId: 'node-b', epoch: 2, prevNodeId: 'node-a', prevEpoch: 1, prevReleased: true });
    const [{ wait }] = (await env.db.query(sql`SELECT extract(epoch FROM start_after - now()) AS wait FROM account_assignments WHERE account_id = ${victim.accountId}`)) as Array<{ wait: number }>;
    expect(Number(wait)).toBeGreaterThan(1);

    // A stopped account is worked nowhere, and its last owner must release it.
    await supervisor.command({ type: 'PauseAccount', accountId: c, status: 'paused', reason: 'test', actor: 'ops' });
    await directory.sync();
    await supervisor.place(lead);
    const off = (await readAssignments(env.db, [c])).get(c)!;
    expect(off).toMatchObject({ nodeId: null, prevReleased: false });
    expect(off.prevNodeId).not.toBeNull();
  });

  it('pauses at the limit and resumes by itself only when both the UTC day and the rolling 24 h have room', async () => {
    const id = await register('limited');
    await env.db.query(sql`INSERT INTO quota_usage (account_id, minute, sent) VALUES (${id}, ${T}, 10)`);
    await supervisor.handleFaults([delivered(fault(id, 'limit_reached'))]);
    expect((await state(id)).status).toBe('paused_limit_reached');

    now = new Date(T.getTime() + 3_600_000);
    await supervisor.review();
    expect((await state(id)).status).toBe('paused_limit_reached');
    // A new UTC day, but the rolling 24 h still holds yesterday's ten.
    now = new Date('2026-06-02T00:30:00.000Z');
    await supervisor.review();
    expect((await state(id)).status).toBe('paused_limit_reached');
    now = new Date(T.getTime() + 24 * 3_600_000 + 120_000);
    await supervisor.review();
    expect(await state(id)).toMatchObject({ status: 'active', statusActor: 'orchestrator' });
    now = T;
  });

  it('suspends on refused credentials with an alert, pauses for a provider limit until its Retry-After, alerts on platform faults', async () => {
    const id = await register('refused');
    const msg = delivered(fault(id, 'auth_failed', { detail: '535 5.7.8 Authentication credentials invalid' }));
    await supervisor.handleFaults([msg]);
    expect(msg.acked).toBe(true);
    expect(await state(id)).toMatchObject({ status: 'suspended', statusReason: 'credentials_rejected: 535 5.7.8 Authentication credentials invalid' });
    const alerts = await env.db.query(sql`SELECT kind, severity, account_id FROM alerts WHERE account_id = ${id}`);
    expect(alerts).toEqual([{ kind: 'account_suspended', severity: 'critical', account_id: id }]);
    // Suspended stays suspended: only a person resumes it.
    now = new Date(T.getTime() + 48 * 3_600_000);
    await supervisor.review();
    expect((await state(id)).status).toBe('suspended');
    now = T;

    const limited = await register('provider');
    const until = new Date(T.getTime() + 600_000).toISOString();
    await supervisor.handleFaults([delivered(fault(limited, 'rate_limited', { retryAfter: until }))]);
    expect(await state(limited)).toMatchObject({ status: 'paused_provider_limit', pausedUntil: until });
    now = new Date(T.getTime() + 599_000);
    await supervisor.review();
    expect((await state(limited)).status).toBe('paused_provider_limit');
    now = new Date(T.getTime() + 601_000);
    await supervisor.review();
    expect((await state(limited)).status).toBe('active');
    now = T;

    const platform = await register('platform');
    await supervisor.handleFaults([delivered(fault(platform, 'unauthorized_client', { scope: 'platform' }))]);
    await supervisor.handleFaults([delivered(fault(platform, 'unauthorized_client', { scope: 'platform' }))]);
    expect((await state(platform)).status).toBe('active');
    const [p] = await env.db.query(sql`SELECT kind, severity, occurrences FROM alerts WHERE dedupe_key = 'platform:unauthorized_client'`);
    expect(p).toEqual({ kind: 'platform_failure', severity: 'critical', occurrences: 2 });
  });

  it('pauses an account whose worker restarted more than three times in an hour', async () => {
    const id = await register('crashy');
    for (let i = 0; i < 3; i++) await recordWorkerRestart(env.db, { accountId: id, nodeId: 'node-b', reason: 'boom', at: new Date(T.getTime() - i * 60_000) });
    await supervisor.review();
    expect((await state(id)).status).toBe('active');
    await recordWorkerRestart(env.db, { accountId: id, nodeId: 'node-b', reason: 'boom', at: T });
    await supervisor.review();
    expect(await state(id)).toMatchObject({ status: 'paused_worker_failing', statusActor: 'orchestrator' });
    const kinds = (await env.db.query(sql`SELECT kind FROM alerts WHERE account_id = ${id} ORDER BY kind`)).map((r) => r.kind);
    expect(kinds).toEqual(['account_paused', 'worker_restarts']);
  });
});

function fault(accountId: string, reason: string, extra: { detail?: string; retryAfter?: string; scope?: 'account' | 'platform' } = {}): FaultReported {
  return {
    id: newId('evt'),
    type: 'FaultReported',
    version: 1,
    occurredAt: T.toISOString(),
    accountId,
    data: { scope: extra.scope ?? 'account', reason, nodeId: 'node-b', ...(extra.detail ? { detail: extra.detail } : {}), ...(extra.retryAfter ? { retryAfter: extra.retryAfter } : {}) },
  };
}
