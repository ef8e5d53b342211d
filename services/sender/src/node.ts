import { setMaxListeners } from 'node:events';
import { NodeLeaseHolder, openNodesBucket, publishEvent, sleep } from '@postbus/bus';
import { isPostbusError, newId, type AccountState } from '@postbus/contracts';
import { AdvanceBatcher, isDatabaseUnavailable, nodeWork, recordWorkerRestart, releaseEpochs, type NodeWork } from '@postbus/db';
import { metrics } from '@postbus/telemetry';
import { AccountWorker, type WorkerDeps } from './worker.js';

export interface SenderNodeOptions extends Omit<WorkerDeps, 'advance' | 'lease' | 'nodeId' | 'startGate'> {
  readonly nodeId: string;
  /** Accounts this node offers to work; the orchestrator never gives it more. */
  readonly capacity: number;
  /** How often the node reads its placements. */
  readonly pollMs?: number;
  /** First pause before restarting a worker that failed (doubling, at most a minute). */
  readonly restartDelayMs?: number;
  readonly leaseTtlMs?: number;
  readonly leaseRenewMs?: number;
  /** Workers starting at once (each start is a transaction and a few JetStream API calls). */
  readonly startConcurrency?: number;
}

/** At most `limit` callers at a time; the rest wait their turn in order. */
class Gate {
  private active = 0;
  private readonly queue: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.queue.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

/** Trouble of the infrastructure, not of the worker: it does not count as a worker failure. */
function isInfrastructure(err: unknown): boolean {
  if (isDatabaseUnavailable(err)) return true;
  if (isPostbusError(err) && err.scope === 'platform' && err.retryable) return true;
  const code = (err as { code?: unknown } | null)?.code;
  const text = `${typeof code === 'string' || typeof code === 'number' ? code : ''} ${err instanceof Error ? err.message : ''}`;
  return /TIMEOUT|CONNECTION|DISCONNECT|no responders|503|closed/i.test(text);
}

interface Running {
  readonly worker: AccountWorker;
  readonly epoch: number;
  readonly abort: AbortController;
  readonly done: Promise<void>;
  finished: boolean;
}

/**
 * A sender process: many logical account workers, one per account the orchestrator placed
 * here. It holds one KV lease; its workers start no transaction after the lease's local
 * deadline, and all of them stop when it is lost. It starts an account's worker only once
 * the leader says the previous owner released it (or died and its grace has passed), and it
 * releases every epoch it stops working, so that the next owner may start.
 */
export class SenderNode {
  private readonly running = new Map<string, Running>();
  private readonly restarts = new Map<string, { delay: number; notBefore: number }>();
  /** Accounts this process has run a worker for. */
  private readonly ran = new Set<string>();
  private signal: AbortSignal | undefined;
  private lease: NodeLeaseHolder | undefined;
  private loop: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly workerDeps: Omit<WorkerDeps, 'lease'>;
  private readonly gate: Gate;
  private readonly wake = { fn: undefined as (() => void) | undefined };

  constructor(private readonly opts: SenderNodeOptions) {
    const batcher = new AdvanceBatcher(opts.db);
    this.gate = new Gate(opts.startConcurrency ?? 32);
    this.workerDeps = { ...opts, advance: (input) => batcher.advance(input), startGate: (fn) => this.gate.run(fn) };
  }

  get nodeId(): string {
    return this.opts.nodeId;
  }

  /** Workers that have started and are taking work (announced in the lease). */
  readyCount(): number {
    let n = 0;
    for (const r of this.running.values()) if (r.worker.ready && !r.finished) n++;
    return n;
  }

  get accountIds(): string[] {
    return [...this.running.keys()];
  }

  async start(signal: AbortSignal): Promise<void> {
    this.signal = signal;
    setMaxListeners(0, signal); // one listener per worker: thousands are expected
    const kv = await openNodesBucket(this.opts.bus);
    this.lease = new NodeLeaseHolder(kv, this.opts.nodeId, {
      capacity: this.opts.capacity,
      accounts: () => this.readyCount(),
      log: this.opts.log,
      onLost: () => {
        metrics.leaseChanges.labels('lost').inc();
        void this.stopAll('node lease lost');
      },
      onAcquired: () => {
        metrics.leaseChanges.labels('acquired').inc();
        this.wake.fn?.();
      },
      ...(this.opts.leaseTtlMs ? { ttlMs: this.opts.leaseTtlMs } : {}),
      ...(this.opts.leaseRenewMs ? { renewMs: this.opts.leaseRenewMs } : {}),
    });
    this.lease.start();
    // A person's pause or a suspension stops the worker at once, before the leader unplaces it.
    this.unsubscribe = this.opts.directory.onChange((a) => {
      if (a.status !== 'active') this.stopWorker(a.id, `account ${a.status}`);
    });
    this.loop = this.reconcileLoop(signal);
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.wake.fn?.();
    await this.loop;
    await this.stopAll('node stopping');
    // Released before the lease goes: the next owners need not wait out the grace.
    await this.releaseStopped().catch(() => undefined);
    await this.lease?.stop();
  }

  private async reconcileLoop(signal: AbortSignal): Promise<void> {
    const pollMs = this.opts.pollMs ?? 1_000;
    while (!signal.aborted) {
      try {
        await this.reconcile();
      } catch (err) {
        this.opts.log.warn({ err }, 'reading placements failed; trying again');
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, pollMs);
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.wake.fn = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** One pass: start what is ours and ready, stop what is no longer ours, release what stopped. */
  private async reconcile(): Promise<void> {
    const work = await nodeWork(this.opts.db, this.opts.nodeId);
    const owned = new Map<string, NodeWork>();
    for (const w of work) if (w.epoch !== null) owned.set(w.accountId, w);
    for (const [accountId, r] of this.running) {
      const mine = owned.get(accountId);
      if (!mine || mine.epoch !== r.epoch) this.stopWorker(accountId, 'placed elsewhere or under a newer epoch');
    }
    if (this.lease?.valid()) {
      for (const w of owned.values()) {
        if (this.running.has(w.accountId) || !w.ready) continue;
        const account = this.opts.directory.get(w.accountId);
        if (!account || account.status !== 'active') continue;
        const backoff = this.restarts.get(w.accountId);
        if (backoff && Date.now() < backoff.notBefore) continue;
        this.launch(account, w.epoch!);
      }
    }
    await this.releaseStopped(work);
    // An account waiting out its grace starts when the grace ends, not at the next poll.
    const soonest = Math.min(...work.filter((w) => w.epoch !== null && w.startInMs !== null).map((w) => w.startInMs!));
    if (Number.isFinite(soonest) && soonest < (this.opts.pollMs ?? 1_000)) setTimeout(() => this.wake.fn?.(), soonest + 5).unref();
  }

  /** Epochs this node must release whose worker is not running here (stopped, or never started). */
  private async releaseStopped(work?: NodeWork[]): Promise<void> {
    const rows = work ?? (await nodeWork(this.opts.db, this.opts.nodeId));
    const release = rows
      .filter((w) => w.releaseEpoch !== null)
      .filter((w) => {
        const r = this.running.get(w.accountId);
        return !r || r.epoch !== w.releaseEpoch || r.finished;
      })
      .map((w) => ({ accountId: w.accountId, epoch: w.releaseEpoch! }));
    await releaseEpochs(this.opts.db, this.opts.nodeId, release);
  }

  private launch(account: AccountState, epoch: number): void {
    const parent = this.signal!;
    const abort = new AbortController();
    const onParent = () => abort.abort();
    parent.addEventListener('abort', onParent, { once: true });
    const worker = new AccountWorker(account.id, epoch, { ...this.workerDeps, lease: this.lease!, nodeId: this.opts.nodeId }, this.ran.has(account.id));
    this.ran.add(account.id);
    metrics.placements.labels('started').inc();
    const log = this.opts.log.child({ accountId: account.id, epoch });
    const entry: { -readonly [K in keyof Running]: Running[K] } = { worker, epoch, abort, finished: false, done: Promise.resolve() };
    entry.done = (async () => {
      try {
        await worker.run(abort.signal);
        this.restarts.delete(account.id);
      } catch (err) {
        // Restarted by the next reconcile pass, after a backoff; the leader counts restarts
        // (not when NATS or Postgres was away: that is no fault of the worker's).
        const prev = this.restarts.get(account.id)?.delay ?? 0;
        const delay = Math.min(prev ? prev * 2 : (this.opts.restartDelayMs ?? 1_000), 60_000);
        this.restarts.set(account.id, { delay, notBefore: Date.now() + delay });
        if (isInfrastructure(err)) {
          log.warn({ err, restartInMs: delay }, 'worker stopped: infrastructure unavailable; restarting after a pause');
        } else {
          log.error({ err, restartInMs: delay }, 'worker failed; restarting after a pause');
          metrics.workerRestart(account.id).inc();
          await this.reportRestart(account.id, err, delay);
        }
      } finally {
        metrics.placements.labels('stopped').inc();
        parent.removeEventListener('abort', onParent);
        entry.finished = true;
        if (this.running.get(account.id) === entry) this.running.delete(account.id);
        this.wake.fn?.();
      }
    })();
    this.running.set(account.id, entry);
  }

  private async reportRestart(accountId: string, err: unknown, delayMs: number): Promise<void> {
    const now = new Date();
    const reason = err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 500) : 'worker failed';
    try {
      await recordWorkerRestart(this.opts.db, { accountId, nodeId: this.opts.nodeId, reason, at: now });
      await publishEvent(this.opts.bus, this.opts.bus.subjects.ops('worker'), {
        id: newId('evt'),
        type: 'WorkerRestarted',
        version: 1,
        occurredAt: now.toISOString(),
        accountId,
        data: { nodeId: this.opts.nodeId, reason, delayMs },
      });
    } catch (e) {
      this.opts.log.warn({ err: e }, 'worker restart not recorded');
    }
  }

  private stopWorker(accountId: string, why: string): void {
    const r = this.running.get(accountId);
    if (!r || r.abort.signal.aborted) return;
    this.opts.log.info({ accountId, epoch: r.epoch, why }, 'stopping worker');
    r.abort.abort();
  }

  private async stopAll(why: string): Promise<void> {
    for (const id of this.running.keys()) this.stopWorker(id, why);
    await Promise.all([...this.running.values()].map((r) => r.done));
    await sleep(0);
  }
}
