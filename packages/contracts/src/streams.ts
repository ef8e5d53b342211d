import { bucketName, streamName, subjectsFor, type Namespace, type StreamBase } from './subjects.js';

const DAY_NS = 24 * 60 * 60 * 1e9;

export interface StreamSpec {
  readonly name: string;
  readonly base: StreamBase;
  readonly subjects: readonly string[];
  readonly retention: 'limits' | 'workqueue';
  /** Nanoseconds; 0 keeps for ever. */
  readonly maxAge: number;
  readonly denyDelete: boolean;
  readonly denyPurge: boolean;
  readonly duplicateWindow: number;
  readonly maxMsgSize: number;
  readonly replicas: number;
}

export interface StreamOptions {
  readonly replicas?: number;
  /** Retention of MAIL and TRACKING in days (90 by default). */
  readonly logRetentionDays?: number;
}

/**
 * Streams are split by how long their facts must live: aggregates for ever, the mail and
 * tracking logs for 90 days (archived before), requests and operations for 30, dispatch
 * work until it is acknowledged.
 */
export function streamSpecs(ns: Namespace, opts: StreamOptions = {}): readonly StreamSpec[] {
  const s = subjectsFor(ns);
  const replicas = opts.replicas ?? 1;
  const logAge = (opts.logRetentionDays ?? 90) * DAY_NS;
  const twoMinutes = 2 * 60 * 1e9;
  const log = (base: StreamBase, subject: string, maxAge: number): StreamSpec => ({
    name: streamName(ns, base),
    base,
    subjects: [subject],
    retention: 'limits',
    maxAge,
    denyDelete: true,
    denyPurge: true,
    duplicateWindow: twoMinutes,
    maxMsgSize: 1024 * 1024,
    replicas,
  });
  return [
    log('ACCOUNTS', s.accounts, 0),
    log('CAMPAIGNS', s.campaigns, 0),
    log('SPONSORS', s.sponsors, 0),
    log('SUPPRESSION', s.suppressions, 0),
    log('MAIL', s.mails, logAge),
    log('TRACKING', s.trackings, logAge),
    log('REQUESTS', s.requests, 30 * DAY_NS),
    log('OPS', s.opsAll, 30 * DAY_NS),
    {
      name: streamName(ns, 'DISPATCH'),
      base: 'DISPATCH',
      subjects: [s.dispatches],
      retention: 'workqueue',
      maxAge: 0,
      denyDelete: false,
      denyPurge: false,
      duplicateWindow: twoMinutes,
      maxMsgSize: 64 * 1024,
      replicas,
    },
  ];
}

export interface BucketSpec {
  readonly name: string;
  /** Nanoseconds; 0 keeps for ever. */
  readonly ttl: number;
  readonly history: number;
  readonly replicas: number;
}

export function bucketSpecs(ns: Namespace, opts: StreamOptions = {}): readonly BucketSpec[] {
  const replicas = opts.replicas ?? 1;
  return [
    { name: bucketName(ns, 'postbus_config'), ttl: 0, history: 5, replicas },
    // Sender-node leases: a key lives while its node renews it. On 2.9 expiry writes no
    // delete marker, so readers poll the keys rather than watch them.
    { name: bucketName(ns, 'postbus_nodes'), ttl: NODE_LEASE_TTL_MS * 1e6, history: 1, replicas },
  ];
}

/** A node's lease lives this long after its last renewal; it renews every third of it. */
export const NODE_LEASE_TTL_MS = 6_000;
export const NODE_LEASE_RENEW_MS = 1_500;
/**
 * A new owner waits this long after its predecessor's lease ran out, for a transaction that
 * started just before the predecessor's deadline to be cut off (workers abort at their deadline).
 */
export const TAKEOVER_GRACE_MS = 2_000;
export const FAULTS_CONSUMER = 'orchestrator_faults';

export const DISPATCHER_CONSUMER = 'dispatcher';

/** Work items stay unacknowledged at most this long while a worker holds them. */
export const WORK_ACK_WAIT_MS = 60_000;
export const REQUEST_ACK_WAIT_MS = 30_000;
