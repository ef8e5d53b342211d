import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { Kvm, type KV } from '@nats-io/kv';
import { NODE_LEASE_RENEW_MS, NODE_LEASE_TTL_MS, NodeLease, bucketName, checker } from '@postbus/contracts';
import type { Bus } from './connection.js';
import { sleep } from './consume.js';

const isLease = checker(NodeLease);

/** Margin kept off the local deadline for clock rate differences and the put's own latency. */
const SAFETY_MS = 1_000;

/** The KV bucket of sender-node leases. */
export type NodesBucket = KV;

export async function openNodesBucket(bus: Bus): Promise<KV> {
  return new Kvm(bus.nc).open(bucketName(bus.ns, 'postbus_nodes'));
}

export interface LeaseLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * A sender node's lease: one key in the TTL bucket, created (never overwritten: a second
 * process with the same node id waits its turn) and renewed by revision. The local
 * deadline is measured on the monotonic clock from the moment each renewal was *sent*, so
 * it always falls before the server lets the key expire: when this side says "valid",
 * the orchestrator cannot yet have seen the node dead.
 */
export class NodeLeaseHolder {
  readonly instance = randomBytes(8).toString('hex');
  private revision = 0;
  private deadline = 0;
  private loop: Promise<void> | undefined;
  private readonly stopped = new AbortController();
  private readonly startedAt = new Date().toISOString();
  private held = false;

  constructor(
    private readonly kv: KV,
    readonly nodeId: string,
    private readonly opts: { capacity: number; accounts: () => number; log: LeaseLog; onLost: () => void; onAcquired: () => void; ttlMs?: number; renewMs?: number },
  ) {}

  private get ttlMs(): number {
    return this.opts.ttlMs ?? NODE_LEASE_TTL_MS;
  }

  /** True while the node may start SMTP transactions or Gmail calls. */
  valid(): boolean {
    return this.held && performance.now() < this.deadline;
  }

  /** Milliseconds left before the local deadline (0 when not valid). */
  remainingMs(): number {
    return this.valid() ? this.deadline - performance.now() : 0;
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped.abort();
    await this.loop;
    if (this.held && this.revision) {
      // Let the orchestrator see the node gone at once rather than after the TTL.
      await this.kv.delete(this.nodeId, { previousSeq: this.revision }).catch(() => undefined);
    }
    this.held = false;
  }

  private value(): Uint8Array {
    const lease: NodeLease = {
      nodeId: this.nodeId,
      instance: this.instance,
      capacity: this.opts.capacity,
      accounts: this.opts.accounts(),
      startedAt: this.startedAt,
      renewedAt: new Date().toISOString(),
    };
    return Buffer.from(JSON.stringify(lease));
  }

  private async run(): Promise<void> {
    const renewMs = this.opts.renewMs ?? NODE_LEASE_RENEW_MS;
    while (!this.stopped.signal.aborted) {
      const sentAt = performance.now();
      try {
        if (!this.held) {
          this.revision = await this.kv.create(this.nodeId, this.value());
          this.deadline = sentAt + this.ttlMs - SAFETY_MS;
          this.held = true;
          this.opts.log.info({ nodeId: this.nodeId, instance: this.instance }, 'node lease acquired');
          this.opts.onAcquired();
        } else {
          this.revision = await this.kv.update(this.nodeId, this.value(), this.revision);
          this.deadline = sentAt + this.ttlMs - SAFETY_MS;
        }
      } catch (err) {
        if (this.held && performance.now() >= this.deadline) this.lose('renewal failed past the deadline', err);
        else if (this.held && isWrongRevision(err)) this.lose('another process holds this node id', err);
        else if (!this.held) this.opts.log.warn({ err: errText(err), nodeId: this.nodeId }, 'node lease not available yet (held by another process, or NATS away); retrying');
        else this.opts.log.warn({ err: errText(err) }, 'node lease renewal failed; retrying before the deadline');
      }
      // Past the deadline without a renewal (an event loop frozen, or NATS away): lost.
      if (this.held && performance.now() >= this.deadline) this.lose('deadline passed without renewal');
      await sleep(this.held ? renewMs : Math.min(renewMs, 1_000), this.stopped.signal);
    }
  }

  private lose(why: string, err?: unknown): void {
    if (!this.held) return;
    this.held = false;
    this.revision = 0;
    this.opts.log.warn({ nodeId: this.nodeId, why, err: err instanceof Error ? err.message : undefined }, 'node lease lost: every worker stops');
    this.opts.onLost();
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : 'unknown error';
}

/** A KV create or update refused because the key is not at the revision given (another writer came first). */
export function isWrongRevision(err: unknown): boolean {
  return /wrong last sequence|key exists/i.test(err instanceof Error ? err.message : '');
}

/**
 * The nodes whose lease key is alive now, with what they announced. The keys come from one
 * stream-info request (its per-subject counts), not from `kv.keys()`: that iterator waits for
 * as many entries as it counted at its start, and a lease that expires or is renewed in
 * between can leave it waiting for ever.
 */
export async function liveNodes(bus: Bus, kv?: KV): Promise<NodeLease[]> {
  const bucket = bucketName(bus.ns, 'postbus_nodes');
  const prefix = `$KV.${bucket}.`;
  const info = await bus.jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` });
  const keys = Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
  const store = kv ?? (await openNodesBucket(bus));
  const out: NodeLease[] = [];
  for (const k of keys) {
    const e = await store.get(k);
    if (!e || e.operation !== 'PUT') continue;
    try {
      const v = e.json<unknown>();
      if (isLease.Check(v)) out.push(v);
    } catch {
      // not a lease: ignore
    }
  }
  return out.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
}
