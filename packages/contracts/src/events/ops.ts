import { Type, type Static } from '@sinclair/typebox';
import { IsoTime } from '../schema.js';
import { envelope } from './envelope.js';

/** A sender node's id: also a KV key and a subject-safe token. */
export const NodeId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });

const Text = (max: number) => Type.String({ minLength: 1, maxLength: max });

/**
 * OPS `ops.fault`: a worker met a failure that is not the message's — its account's
 * (credentials refused, a provider limit, no room left) or the platform's. The orchestrator,
 * which owns the account aggregate, decides what follows.
 */
export const FaultReported = envelope(
  'FaultReported',
  1,
  Type.Object(
    {
      scope: Type.Union([Type.Literal('account'), Type.Literal('platform')]),
      reason: Text(100),
      detail: Type.Optional(Text(500)),
      /** When the provider said sending may resume (its Retry-After). */
      retryAfter: Type.Optional(IsoTime),
      nodeId: NodeId,
    },
    { additionalProperties: false },
  ),
);
export type FaultReported = Static<typeof FaultReported>;

/** OPS `ops.worker`: a node restarted a worker that failed. */
export const WorkerRestarted = envelope(
  'WorkerRestarted',
  1,
  Type.Object({ nodeId: NodeId, reason: Text(500), delayMs: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
);
export type WorkerRestarted = Static<typeof WorkerRestarted>;

/** OPS `ops.placement`: the leader gave an account to a node (or to none) under a new epoch. */
export const AccountPlaced = envelope(
  'AccountPlaced',
  1,
  Type.Object(
    {
      nodeId: Type.Union([NodeId, Type.Null()]),
      epoch: Type.Integer({ minimum: 1 }),
      leaderEpoch: Type.Integer({ minimum: 1 }),
      reason: Text(200),
      previousNodeId: Type.Union([NodeId, Type.Null()]),
    },
    { additionalProperties: false },
  ),
);
export type AccountPlaced = Static<typeof AccountPlaced>;

/** OPS `ops.leader`: an orchestrator took the lead with a new epoch. */
export const LeaderElected = envelope(
  'LeaderElected',
  1,
  Type.Object({ holder: Text(200), leaderEpoch: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
);
export type LeaderElected = Static<typeof LeaderElected>;

export const AlertSeverity = Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]);
export type AlertSeverity = Static<typeof AlertSeverity>;

/** OPS `ops.alert`: what pages a person. Deduplicated by `key` within a window. */
export const AlertRaised = envelope(
  'AlertRaised',
  1,
  Type.Object(
    {
      alertId: Text(64),
      key: Text(300),
      kind: Text(100),
      severity: AlertSeverity,
      summary: Text(1000),
      details: Type.Record(Type.String(), Type.Union([Type.String({ maxLength: 1000 }), Type.Number(), Type.Boolean(), Type.Null()])),
    },
    { additionalProperties: false },
  ),
);
export type AlertRaised = Static<typeof AlertRaised>;

export type OpsEvent = FaultReported | WorkerRestarted | AccountPlaced | LeaderElected | AlertRaised;
export const opsEventSchemas = [FaultReported, WorkerRestarted, AccountPlaced, LeaderElected, AlertRaised] as const;

/** The subject token of each OPS event: `ops.<token>`. */
export const OPS_SUBJECT_TOKEN: Record<OpsEvent['type'], string> = {
  FaultReported: 'fault',
  WorkerRestarted: 'worker',
  AccountPlaced: 'placement',
  LeaderElected: 'leader',
  AlertRaised: 'alert',
};

/**
 * A sender node's lease, the value of its key in the `postbus_nodes` bucket (TTL): while the
 * key lives the node is live. `instance` tells two processes claiming one node id apart.
 */
export const NodeLease = Type.Object(
  {
    nodeId: NodeId,
    instance: Text(64),
    capacity: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
    accounts: Type.Integer({ minimum: 0 }),
    startedAt: IsoTime,
    renewedAt: IsoTime,
  },
  { additionalProperties: false },
);
export type NodeLease = Static<typeof NodeLease>;
