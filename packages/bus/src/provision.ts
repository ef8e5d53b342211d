import { DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { PostbusError, type BucketSpec, type StreamSpec } from '@postbus/contracts';
import type { Bus } from './connection.js';

export class ProvisioningError extends PostbusError {
  constructor(message: string, cause?: unknown) {
    super('provisioning_failed', message, { scope: 'platform', status: 500, ...(cause === undefined ? {} : { cause }) });
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
 * silently drops fields it does not know, so what matters is what the server kept. Every
 * service calls this at start-up, so a server that lacks something Postbus needs stops the
 * service with an error that names the feature and the fix.
 */
export async function ensureStreams(bus: Bus, specs: readonly StreamSpec[]): Promise<StreamInfo[]> {
  await requireJetStream(bus);
  const out: StreamInfo[] = [];
  for (const spec of specs) {
    const cfg = toConfig(spec);
    const what = `stream ${spec.name}`;
    let info: StreamInfo;
    try {
      info = await bus.jsm.streams.info(spec.name);
      if (differences(spec, info).length > 0) info = await bus.jsm.streams.update(spec.name, cfg).catch(rethrow(what, spec.replicas, spec));
    } catch (err) {
      if (err instanceof ProvisioningError) throw err;
      if (!isNotFound(err)) throw explain(what, err, spec.replicas, spec);
      info = await bus.jsm.streams.add(cfg).catch(rethrow(what, spec.replicas, spec));
    }
    info = await bus.jsm.streams.info(spec.name);
    const diff = differences(spec, info);
    if (diff.length) throw new ProvisioningError(`${what} does not have the configuration Postbus needs: ${diff.join('; ')}`);
    out.push(info);
  }
  return out;
}

/** What the server kept that Postbus did not ask for, each with what to do about it. */
function differences(spec: StreamSpec, info: StreamInfo): string[] {
  const c = info.config;
  const d: string[] = [];
  const want = toConfig(spec);
  if (JSON.stringify([...(c.subjects ?? [])].sort()) !== JSON.stringify([...spec.subjects].sort())) d.push(`subjects ${JSON.stringify(c.subjects)}, not ${JSON.stringify(spec.subjects)}`);
  if (c.retention !== want.retention) d.push(`retention ${c.retention}, not ${want.retention}: a retention policy cannot be changed in place (see "Streams that cannot be updated" in docs/operations.md)`);
  if (c.max_age !== spec.maxAge) d.push(`max_age ${c.max_age}, not ${spec.maxAge}`);
  if (Boolean(c.deny_delete) !== spec.denyDelete || Boolean(c.deny_purge) !== spec.denyPurge) {
    d.push(`deny_delete ${String(c.deny_delete)} and deny_purge ${String(c.deny_purge)}: this nats-server does not honour deny_delete/deny_purge, which protect the event log; run nats-server 2.9 or later`);
  }
  if (c.duplicate_window !== spec.duplicateWindow) d.push(`duplicate_window ${c.duplicate_window}, not ${spec.duplicateWindow}: this nats-server does not keep the duplicate window; run nats-server 2.9 or later`);
  if (c.num_replicas !== spec.replicas) d.push(`num_replicas ${c.num_replicas}, not ${spec.replicas} (POSTBUS_STREAM_REPLICAS): ${REPLICAS_FIX}`);
  if (c.max_msg_size !== spec.maxMsgSize) d.push(`max_msg_size ${c.max_msg_size}, not ${spec.maxMsgSize}`);
  return d;
}

export async function ensureBuckets(bus: Bus, specs: readonly BucketSpec[]): Promise<void> {
  await requireJetStream(bus);
  const kvm = new Kvm(bus.nc);
  for (const spec of specs) {
    const what = `KV bucket ${spec.name}`;
    const kv = await kvm.create(spec.name, { ttl: spec.ttl / 1e6, history: spec.history, replicas: spec.replicas }).catch(rethrow(what, spec.replicas));
    let status = await kv.status();
    if (status.history !== spec.history || status.ttl !== spec.ttl / 1e6) {
      // A bucket made by an earlier version: its stream takes the new age and history.
      await bus.jsm.streams
        .update(`KV_${spec.name}`, { max_age: spec.ttl, max_msgs_per_subject: spec.history })
        .catch(rethrow(what, spec.replicas));
      status = await kv.status();
    }
    if (status.ttl !== spec.ttl / 1e6) {
      throw new ProvisioningError(`${what} has ttl ${status.ttl} ms, not ${spec.ttl / 1e6} ms: this nats-server does not support KV TTL (max_age on the bucket's stream), which sender-node leases need; run nats-server 2.9 or later`);
    }
    if (status.history !== spec.history) throw new ProvisioningError(`${what} keeps history ${status.history}, not ${spec.history}: this nats-server does not keep KV history; run nats-server 2.9 or later`);
    if (status.replicas !== spec.replicas) throw new ProvisioningError(`${what} has ${status.replicas} replica(s), not ${spec.replicas} (POSTBUS_STREAM_REPLICAS): ${REPLICAS_FIX}`);
  }
}

const REPLICAS_FIX = 'set POSTBUS_STREAM_REPLICAS=1 on a single nats-server, or run a JetStream cluster of at least that many nodes (docker-compose.yml runs 3)';
const JETSTREAM_FIX = 'JetStream is not enabled on this NATS server: start nats-server with -js (or a jetstream {} block in its configuration), and give it a store directory (-sd)';

/** Fails fast when the server answers no JetStream API at all. */
async function requireJetStream(bus: Bus): Promise<void> {
  try {
    await bus.jsm.getAccountInfo();
  } catch (err) {
    throw explain('JetStream', err, 1);
  }
}

/** Turns the server's refusal into what an operator can act on; other errors pass through. */
function explain(what: string, err: unknown, replicas: number, spec?: StreamSpec): Error {
  const e = err as { name?: unknown; code?: unknown; message?: unknown; api_error?: { err_code?: number } };
  const code = typeof e?.code === 'number' ? e.code : e?.api_error?.err_code;
  const said = typeof e?.message === 'string' ? e.message : String(err);
  if (e?.name === 'JetStreamNotEnabled' || code === 10039 || code === 10076 || /jetstream (is )?not enabled/i.test(said)) {
    return new ProvisioningError(`${what}: ${JETSTREAM_FIX}`, err);
  }
  if (code === 10074 || /replicas > 1 not supported/i.test(said)) {
    return new ProvisioningError(`${what} needs ${replicas} replicas (POSTBUS_STREAM_REPLICAS=${replicas}) but this nats-server is not clustered ("${said}"): ${REPLICAS_FIX}`, err);
  }
  if (code === 10023 || /insufficient resources/i.test(said)) {
    return new ProvisioningError(`${what} cannot be placed ("${said}"): the cluster has fewer JetStream nodes than ${replicas} replicas (POSTBUS_STREAM_REPLICAS) or not enough storage (max_file_store); ${REPLICAS_FIX}`, err);
  }
  if (code === 10052 || /can not change/i.test(said)) {
    return new ProvisioningError(
      `${what} exists with a configuration that cannot be updated in place ("${said}"): back it up (nats stream backup ${spec?.name ?? '<stream>'} <dir>), move it aside and let Postbus create it again — see "Streams that cannot be updated" in docs/operations.md`,
      err,
    );
  }
  if (code === 10065 || /subjects overlap/i.test(said)) {
    return new ProvisioningError(`${what}: another stream on this server already takes ${JSON.stringify(spec?.subjects ?? [])} ("${said}"); find it with nats stream ls and remove or rename it, or give this deployment its own POSTBUS_NAMESPACE`, err);
  }
  return err instanceof Error ? err : new Error(String(err));
}

function rethrow(what: string, replicas: number, spec?: StreamSpec): (err: unknown) => never {
  return (err) => {
    throw explain(what, err, replicas, spec);
  };
}

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
