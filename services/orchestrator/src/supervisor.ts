import type { NodesBucket } from '@postbus/bus';
import type { JsMsg } from '@postbus/bus';
import { executeAccountCommand, liveNodes, publishEvent, withMessageContext, type AccountDirectory, type Bus } from '@postbus/bus';
import { TAKEOVER_GRACE_MS, decodeEvent, effectiveDailyLimit, type AccountCommand, type RuntimeSettings } from '@postbus/contracts';
import {
  accountUsage,
  placeAccounts,
  readAssignments,
  releaseDeadNodes,
  restartsInLastHour,
  roomOf,
  sql,
  type Database,
  type Leadership,
} from '@postbus/db';
import { metrics, type Logger } from '@postbus/telemetry';
import type { Alerter } from './alerts.js';
import { alertForStatus, decideFault } from './domain/faults.js';
import { planPlacements } from './domain/placement.js';

export interface SupervisorDeps {
  readonly bus: Bus;
  readonly db: Database;
  readonly directory: AccountDirectory;
  readonly log: Logger;
  readonly clock: () => Date;
  readonly alerter: Alerter;
  readonly nodes: NodesBucket;
  readonly graceMs?: number;
  /** The platform's runtime settings, read at each use (a KV watch keeps them current). */
  readonly settings: () => RuntimeSettings;
}

const CHUNK = 500;

/**
 * The leader's care of accounts: places them on live nodes (and off stopped accounts), turns
 * reported faults into lifecycle decisions, resumes accounts whose reason to stop has passed,
 * pauses accounts whose workers keep failing, and raises the alerts that go with all of it.
 */
export class Supervisor {
  constructor(private readonly deps: SupervisorDeps) {}

  /** One placement pass. */
  async place(lead: Leadership): Promise<number> {
    const { db, directory, bus } = this.deps;
    const grace = this.deps.graceMs ?? TAKEOVER_GRACE_MS;
    const nodes = await liveNodes(bus, this.deps.nodes);
    const current = await readAssignments(db);
    const decisions = planPlacements(directory.all(), current, nodes, { maxMoves: this.deps.settings().rebalanceMovesPerPass, minAgeMs: 10_000, now: this.deps.clock() });
    let placed = 0;
    for (let i = 0; i < decisions.length; i += CHUNK) {
      const chunk = decisions.slice(i, i + CHUNK);
      const rows = await db.tx((tx) => placeAccounts(tx, lead, chunk, grace));
      placed += rows.length;
      const reasons = new Map(chunk.map((d) => [d.accountId, d]));
      const now = this.deps.clock().toISOString();
      await Promise.all(
        rows.map((r) =>
          publishEvent(bus, bus.subjects.ops('placement'), {
            id: `${r.accountId}.placed.${r.epoch}`,
            type: 'AccountPlaced',
            version: 1,
            occurredAt: now,
            accountId: r.accountId,
            data: { nodeId: r.nodeId, epoch: r.epoch, leaderEpoch: lead.epoch, reason: r.reason.slice(0, 200), previousNodeId: reasons.get(r.accountId)?.previousNodeId ?? null },
          }).catch((err: unknown) => this.deps.log.warn({ err }, 'placement event not published (the table holds the truth)')),
        ),
      );
      metrics.epochChanges.inc(rows.length);
      if (rows.length) this.deps.log.info({ count: rows.length, sample: rows.slice(0, 3).map((r) => ({ accountId: r.accountId, nodeId: r.nodeId, epoch: r.epoch })) }, 'accounts placed');
    }
    await db.tx((tx) => releaseDeadNodes(tx, lead, nodes.map((n) => n.nodeId), grace));
    return placed;
  }

  /** `FaultReported` events from workers: what each means for its account. */
  async handleFaults(batch: JsMsg[]): Promise<void> {
    for (const msg of batch) {
      let event;
      try {
        event = decodeEvent(msg.data);
      } catch (err) {
        this.deps.log.error({ err, seq: msg.seq }, 'invalid OPS event: terminated');
        msg.term();
        continue;
      }
      if (event.type !== 'FaultReported') {
        msg.ack();
        continue;
      }
      const account = event.accountId ? this.deps.directory.get(event.accountId) : undefined;
      const decision = decideFault(event, account, this.deps.clock());
      // In the fault's trace: the commands, the alert and its webhook call follow the report.
      await withMessageContext(msg, async () => {
        if (decision.command) await this.command(decision.command);
        if (decision.alert) await this.deps.alerter.raise(decision.alert);
      });
      msg.ack();
    }
  }

  /** Runs a lifecycle command; a state change that needs a person raises its alert. */
  async command(cmd: AccountCommand): Promise<void> {
    const { state, events } = await executeAccountCommand(this.deps.bus, cmd, this.deps.clock());
    if (events.length === 0 || !state) return;
    this.deps.log.info({ accountId: state.id, status: state.status, reason: state.statusReason }, 'account lifecycle changed');
    const alert = alertForStatus(state);
    if (alert) await this.deps.alerter.raise(alert);
  }

  /** Periodic review: automatic resumes, failing workers, backlog. */
  async review(): Promise<void> {
    const now = this.deps.clock();
    const accounts = this.deps.directory.all();
    const limited = accounts.filter((a) => a.status === 'paused_limit_reached');
    if (limited.length) {
      const usage = await accountUsage(this.deps.db, limited.map((a) => a.id), now);
      for (const a of limited) {
        const u = usage.get(a.id) ?? { sentToday: 0, sentRolling24h: 0, inFlight: 0 };
        if (roomOf(u, effectiveDailyLimit(a.settings, now)) > 0) {
          await this.command({ type: 'ResumeAccount', accountId: a.id, actor: 'orchestrator', reason: 'room in its limits again', onlyFrom: ['paused_limit_reached'] });
        }
      }
    }
    for (const a of accounts) {
      if (a.status === 'paused_provider_limit' && a.pausedUntil && Date.parse(a.pausedUntil) <= now.getTime()) {
        await this.command({ type: 'ResumeAccount', accountId: a.id, actor: 'orchestrator', reason: 'the provider limit has passed', onlyFrom: ['paused_provider_limit'] });
      }
    }
    const max = this.deps.settings().maxWorkerRestartsPerHour;
    for (const [accountId, n] of await restartsInLastHour(this.deps.db, now)) {
      if (n <= max) continue;
      const a = this.deps.directory.get(accountId);
      if (a?.status !== 'active') continue;
      await this.deps.alerter.raise({
        key: `worker_restarts:${accountId}`,
        kind: 'worker_restarts',
        severity: 'warning',
        summary: `The worker of account ${a.name} (${accountId}) restarted ${n} times in the last hour`,
        accountId,
        details: { restarts: n },
      });
      await this.command({ type: 'PauseAccount', accountId, actor: 'orchestrator', status: 'paused_worker_failing', reason: `worker restarted ${n} times in an hour` });
    }
    const threshold = this.deps.settings().backlogAlertThreshold;
    if (threshold > 0) {
      const [row] = await this.deps.db.query(sql`
        SELECT count(*)::int AS n FROM deliveries WHERE state IN ('waiting', 'assigned', 'retry_wait')`);
      const depth = (row?.n as number) ?? 0;
      if (depth > threshold) {
        await this.deps.alerter.raise({ key: 'backlog', kind: 'backlog', severity: 'warning', summary: `${depth} messages are queued (threshold ${threshold})`, details: { depth, threshold } });
      }
    }
  }
}
