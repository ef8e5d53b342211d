import type { AccountState } from '@postbus/contracts';
import { AdvanceBatcher } from '@postbus/db';
import { AccountWorker, type WorkerDeps } from './worker.js';

export interface SenderNodeOptions extends WorkerDeps {
  /** Only these accounts, or every account in the directory when empty. */
  readonly accounts?: readonly string[];
  /** Pause before restarting a worker that failed. */
  readonly restartDelayMs?: number;
}

/**
 * A sender process: it hosts many logical account workers. Until the orchestrator assigns
 * accounts to nodes (leases), a node works every active account it is given — run one
 * sender node per set of accounts.
 */
export class SenderNode {
  private readonly workers = new Map<string, { worker: AccountWorker; done: Promise<void>; abort: AbortController }>();
  private unsubscribe: (() => void) | undefined;
  private signal: AbortSignal | undefined;
  private readonly workerDeps: WorkerDeps;

  constructor(private readonly opts: SenderNodeOptions) {
    const batcher = new AdvanceBatcher(opts.db);
    this.workerDeps = { ...opts, advance: (input) => batcher.advance(input) };
  }

  start(signal: AbortSignal): void {
    this.signal = signal;
    for (const a of this.opts.directory.all()) this.consider(a);
    this.unsubscribe = this.opts.directory.onChange((a) => this.consider(a));
  }

  get accountIds(): string[] {
    return [...this.workers.keys()];
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    for (const w of this.workers.values()) w.abort.abort();
    await Promise.all([...this.workers.values()].map((w) => w.done));
    this.workers.clear();
  }

  private consider(a: AccountState): void {
    if (!this.signal || this.signal.aborted || this.workers.has(a.id)) return;
    const only = this.opts.accounts ?? [];
    if (only.length > 0 && !only.includes(a.id)) return;
    if (a.status !== 'active') return;
    this.launch(a.id);
  }

  private launch(accountId: string): void {
    const abort = new AbortController();
    const parent = this.signal!;
    const onParent = () => abort.abort();
    parent.addEventListener('abort', onParent, { once: true });
    const worker = new AccountWorker(accountId, this.workerDeps);
    const log = this.opts.log.child({ accountId });
    const done = (async () => {
      let delay = this.opts.restartDelayMs ?? 1_000;
      while (!abort.signal.aborted) {
        try {
          await worker.run(abort.signal);
          return; // stopped on purpose, or its epoch was taken over
        } catch (err) {
          log.error({ err }, 'worker failed; restarting');
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 60_000);
        }
      }
    })().finally(() => parent.removeEventListener('abort', onParent));
    this.workers.set(accountId, { worker, done, abort });
  }
}
