import { DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { PostbusError, type BucketSpec, type StreamSpec } from '@postbus/contracts';
import type { Bus } from './connection.js';

export class ProvisioningError extends PostbusError {
  constructor(message: string) {
    super('provisioning_failed', message, { scope: 'platform', status: 500 });
  }
}

function toConfig(s: StreamSpec): Partial<StreamConfig> & { name: string } {
  return {
    name: s.name,
    subjects: [...s.subjects],
    retention: s.retention === 'workqueue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: s.maxAge,
    max_msg_size: s.maxMsgSize,
    deny_delete: s.denyDelete,
    deny_purge: s.denyPurge,
    duplicate_window: s.duplicateWindow,
    num_replicas: s.replicas,
    allow_rollup_hdrs: false,
  };
}

/**
 * Creates or updates each stream, then reads its configuration back: nats-server 2.9
 * silently drops fields it does not know, so what matters is what the server kept.
 */
export async function ensureStreams(bus: Bus, specs: readonly StreamSpec[]): Promise<StreamInfo[]> {
  const out: StreamInfo[] = [];
  for (const spec of specs) {
    const cfg = toConfig(spec);
    let info: StreamInfo;
    try {
      info = await bus.jsm.streams.info(spec.name);
      if (differences(spec, info).length > 0) info = await bus.jsm.streams.update(spec.name, cfg);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      info = await bus.jsm.streams.add(cfg);
    }
    info = await bus.jsm.streams.info(spec.name);
    const diff = differences(spec, info);
    if (diff.length) {
      throw new ProvisioningError(`stream ${spec.name} does not have the configuration Postbus needs (${diff.join('; ')}): the server may be too old or refuse the change`);
    }
    out.push(info);
  }
  return out;
}

function differences(spec: StreamSpec, info: StreamInfo): string[] {
  const c = info.config;
  const d: string[] = [];
  const want = toConfig(spec);
  if (JSON.stringify([...(c.subjects ?? [])].sort()) !== JSON.stringify([...spec.subjects].sort())) d.push(`subjects ${JSON.stringify(c.subjects)}`);
  if (c.retention !== want.retention) d.push(`retention ${c.retention}`);
  if (c.max_age !== spec.maxAge) d.push(`max_age ${c.max_age}`);
  if (Boolean(c.deny_delete) !== spec.denyDelete) d.push(`deny_delete ${String(c.deny_delete)}`);
  if (Boolean(c.deny_purge) !== spec.denyPurge) d.push(`deny_purge ${String(c.deny_purge)}`);
  if (c.duplicate_window !== spec.duplicateWindow) d.push(`duplicate_window ${c.duplicate_window}`);
  if (c.num_replicas !== spec.replicas) d.push(`num_replicas ${c.num_replicas}`);
  if (c.max_msg_size !== spec.maxMsgSize) d.push(`max_msg_size ${c.max_msg_size}`);
  return d;
}

export async function ensureBuckets(bus: Bus, specs: readonly BucketSpec[]): Promise<void> {
  const kvm = new Kvm(bus.nc);
  for (const spec of specs) {
    const kv = await kvm.create(spec.name, { ttl: spec.ttl / 1e6, history: spec.history, replicas: spec.replicas });
    let status = await kv.status();
    if (status.history !== spec.history || status.ttl !== spec.ttl / 1e6) {
      // A bucket made by an earlier version: its stream takes the new age and history.
      await bus.jsm.streams.update(`KV_${spec.name}`, { max_age: spec.ttl, max_msgs_per_subject: spec.history });
      status = await kv.status();
    }
    if (status.history !== spec.history || status.ttl !== spec.ttl / 1e6) {
      throw new ProvisioningError(`bucket ${spec.name} has history ${status.history} and ttl ${status.ttl} ms, not what Postbus needs`);
    }
  }
}

/** Removes a test namespace's streams (tests only; production streams deny deletion of messages, not of streams). */
export async function deleteStreams(bus: Bus, specs: readonly StreamSpec[]): Promise<void> {
  for (const s of specs) await bus.jsm.streams.delete(s.name).catch(() => undefined);
}

export function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; name?: unknown };
  return e?.name === 'StreamNotFoundError' || e?.code === 10059 || (typeof e?.message === 'string' && /not found/i.test(e.message));
}

/** Removes everything of a test namespace: its streams and its KV buckets (tests and benchmarks only). */
export async function deleteNamespace(bus: Bus, streams: readonly StreamSpec[], buckets: readonly BucketSpec[]): Promise<void> {
  await deleteStreams(bus, streams);
  for (const b of buckets) await bus.jsm.streams.delete(`KV_${b.name}`).catch(() => undefined);
}
