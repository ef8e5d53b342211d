import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { AccountId, MessageId, RuntimeSettings, StoredRuntimeSettings, TAG_PATTERN, TlsMode, type MessageKind } from '@postbus/contracts';
import { LIMITS } from '../deps.js';

/**
 * HTTP shapes. Fields whose problems have their own error code (addresses, header text,
 * sizes) are deliberately loose here: the handler checks them and names the code, which a
 * schema failure (400 `invalid_request`) could not.
 */
const LooseText = (maxLength: number) => Type.String({ maxLength });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const MessageInput = Type.Object(
  {
    to: Type.String({ maxLength: 1000, description: 'Recipient address (checked by the address parser)' }),
    toName: Type.Optional(LooseText(200)),
    replyTo: Type.Optional(Type.String({ maxLength: 1000 })),
    subject: LooseText(998),
    text: Type.Optional(Type.String({ maxLength: LIMITS.bodyBytes })),
    html: Type.Optional(Type.String({ maxLength: LIMITS.bodyBytes })),
    headers: Type.Optional(
      Type.Record(Type.String({ maxLength: 200 }), LooseText(998), { maxProperties: 20, description: 'X- headers only' }),
    ),
    variables: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z0-9_]{1,64}$' }), Type.String({ maxLength: 2000 }), { maxProperties: 100 }),
    ),
    tracking: Type.Optional(
      Type.Object(
        { opens: Type.Optional(Type.Boolean()), clicks: Type.Optional(Type.Boolean()) },
        { additionalProperties: false, description: 'Default: on for bulk mail, off for transactional; the platform-wide switch (runtime settings) wins' },
      ),
    ),
    kind: Type.Optional(
      // An enum rather than a union of literals: one clear validation message instead of three.
      Type.Unsafe<MessageKind>({ type: 'string', enum: ['bulk', 'transactional'], description: 'Default: bulk. Bulk mail needs a postal address on its account.' }),
    ),
    accountId: Type.Optional(Type.String({ maxLength: 64 })),
    campaignId: Type.Optional(Type.String({ pattern: TAG_PATTERN })),
    expiresInHours: Type.Optional(Type.Integer({ minimum: 1, maximum: 720, description: 'Default: 72' })),
  },
  { additionalProperties: false },
);
export type MessageInput = Static<typeof MessageInput>;

export const messageBatch = (maxBatch: number) =>
  Type.Object(
    { messages: Type.Array(MessageInput, { minItems: 1, maxItems: maxBatch }) },
    { additionalProperties: false },
  );

export const Accepted = Type.Object({
  id: Type.Optional(MessageId),
  messages: Type.Array(Type.Object({ id: MessageId, status: Type.Literal('accepted') })),
});
export type Accepted = Static<typeof Accepted>;

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ pattern: LIMITS.idempotencyKeyPattern })),
});

// eslint-disable-next-line @typescript-eslint/no-duplicate-type-constituents -- both ids are TString today; the union names which schemas fit
export const IdParam = <T extends typeof MessageId | typeof AccountId>(id: T) => Type.Object({ id });

export const TimelineEntry = Type.Object({
  eventId: Type.String(),
  type: Type.String(),
  accountId: Type.Union([Type.String(), Type.Null()]),
  attempt: Type.Union([Type.Integer(), Type.Null()]),
  occurredAt: Type.String(),
  detail: Type.Unknown(),
});

const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
export const MessageStatus = Type.Object({
  id: MessageId,
  state: Type.String(),
  kind: Type.String(),
  accountId: Type.Union([Type.String(), Type.Null()]),
  campaignId: Type.Union([Type.String(), Type.Null()]),
  to: Type.String(),
  subject: Type.String(),
  attempt: Type.Integer(),
  assignment: Type.Integer(),
  sendFailures: Type.Integer(),
  requestedAt: Type.String({ format: 'date-time' }),
  assignedAt: Time,
  sendingAt: Time,
  outcomeAt: Time,
  reason: Type.Union([Type.String(), Type.Null()]),
  replyCode: Type.Union([Type.Integer(), Type.Null()]),
  reply: Type.Union([Type.String(), Type.Null()]),
  expiresAt: Type.String({ format: 'date-time' }),
  timeline: Type.Array(TimelineEntry),
});
export type MessageStatus = Static<typeof MessageStatus>;

// ---- accounts ----

const settingsFields = {
  dailyLimit: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
  batchSize: Type.Integer({ minimum: 1, maximum: 1000 }),
  sendDelayMs: Type.Integer({ minimum: 0, maximum: 3_600_000 }),
  postalAddress: Nullable(LooseText(500)),
  fromName: Nullable(LooseText(200)),
  /** VERP return paths (`local+pb-<id>@domain`), for SMTP servers that accept them. */
  verp: Type.Boolean(),
};

const WarmupInput = Type.Object(
  {
    days: Type.Integer({ minimum: 1, maximum: 365 }),
    startLimit: Type.Integer({ minimum: 1, maximum: 10_000_000 }),
    /** Defaults to now. */
    startedAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);
const WarmupView = Type.Object({ days: Type.Integer(), startLimit: Type.Integer(), startedAt: Type.String({ format: 'date-time' }) });

export const CreateAccount = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    fromAddress: Type.String({ maxLength: 1000 }),
    fromName: Type.Optional(LooseText(200)),
    /** Default 'smtp' (with `smtp`); 'gmail' takes `gmail` instead and sends as the From address. */
    provider: Type.Optional(Type.Union([Type.Literal('smtp'), Type.Literal('gmail')])),
    smtp: Type.Optional(Type.Object(
      {
        host: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:\\[\\]-]+$' }),
        port: Type.Integer({ minimum: 1, maximum: 65535 }),
        tls: TlsMode,
        user: LooseText(320),
        password: Type.String({ minLength: 1, maxLength: 4096, writeOnly: true }),
      },
      { additionalProperties: false },
    )),
    gmail: Type.Optional(Type.Object(
      {
        /** The service account's key file (JSON text or object), with domain-wide delegation for the From address. Never answered back. */
        serviceAccountKey: Type.Union([Type.String({ minLength: 1, maxLength: 16_384 }), Type.Object({}, { additionalProperties: true, maxProperties: 50 })], { writeOnly: true }),
        /** A Workspace trial: Google allows 500 messages a day instead of 2,000. */
        workspaceTrial: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    )),
    /** Default: the provider's own limit (SMTP 500; Gmail 2,000, on a Workspace trial 500). */
    dailyLimit: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
    sendDelayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000, default: 0 })),
    postalAddress: Type.Optional(LooseText(500)),
    warmup: Type.Optional(WarmupInput),
    verp: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CreateAccount = Static<typeof CreateAccount>;

export const ChangeSettings = Type.Partial(Type.Object({ ...settingsFields, warmup: Nullable(WarmupInput) }), { additionalProperties: false, minProperties: 1 });
export type ChangeSettings = Static<typeof ChangeSettings>;

export const AccountView = Type.Object({
  id: AccountId,
  name: Type.String(),
  provider: Type.Union([Type.Literal('smtp'), Type.Literal('gmail')]),
  fromAddress: Type.String(),
  /** SMTP accounts only. */
  smtp: Type.Optional(Type.Object({
    host: Type.String(),
    port: Type.Integer(),
    tls: TlsMode,
    user: Type.String(),
    secretId: Type.String(),
  })),
  /** Gmail accounts only: the user sent as and the id of the stored key (never the key). */
  gmail: Type.Optional(Type.Object({ user: Type.String(), secretId: Type.String(), workspaceTrial: Type.Boolean() })),
  settings: Type.Object({ ...settingsFields, warmup: Nullable(WarmupView), dkim: Nullable(Type.Object({ domain: Type.String(), selector: Type.String() })) }),
  /** The limit in force now (the daily limit, or the warm-up's step). */
  effectiveDailyLimit: Type.Integer(),
  status: Type.String(),
  statusReason: Type.String(),
  statusActor: Type.String(),
  statusSince: Type.String({ format: 'date-time' }),
  pausedUntil: Nullable(Type.String({ format: 'date-time' })),
  registeredAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

export const LifecycleChange = Type.Object({ reason: Type.String({ minLength: 1, maxLength: 500 }) }, { additionalProperties: false });
export type LifecycleChange = Static<typeof LifecycleChange>;

export const MoveResult = Type.Object({
  accountId: AccountId,
  moved: Type.Integer(),
  /** Messages pinned to this account by their sender stay with it. */
  keptPinned: Type.Integer(),
  /** Messages in `uncertain` never move (the server may have them). */
  uncertain: Type.Integer(),
});

export const PlacementView = Type.Object({
  accountId: AccountId,
  status: Type.String(),
  statusReason: Type.String(),
  statusActor: Type.String(),
  statusSince: Type.String({ format: 'date-time' }),
  pausedUntil: Nullable(Type.String({ format: 'date-time' })),
  nodeId: Nullable(Type.String()),
  nodeLive: Type.Boolean(),
  epoch: Nullable(Type.Integer()),
  leaderEpoch: Nullable(Type.Integer()),
  placedAt: Nullable(Type.String({ format: 'date-time' })),
  placementReason: Nullable(Type.String()),
  previous: Nullable(Type.Object({ nodeId: Nullable(Type.String()), epoch: Nullable(Type.Integer()), released: Type.Boolean() })),
  startAfter: Nullable(Type.String()),
});

export const NodeView = Type.Object({
  nodeId: Type.String(),
  capacity: Type.Integer(),
  /** Workers the node says it runs. */
  running: Type.Integer(),
  /** Accounts the leader placed on it. */
  placed: Type.Integer(),
  accounts: Type.Array(Type.Object({ accountId: AccountId, epoch: Type.Integer() })),
  startedAt: Type.String({ format: 'date-time' }),
  renewedAt: Type.String({ format: 'date-time' }),
});
export const NodesView = Type.Object({
  leader: Type.Object({ holder: Nullable(Type.String()), epoch: Type.Integer(), live: Type.Boolean() }),
  nodes: Type.Array(NodeView),
  /** Accounts placed on nodes whose lease is gone (being taken over). */
  orphaned: Type.Integer(),
});

export const AlertView = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  severity: Type.String(),
  summary: Type.String(),
  accountId: Nullable(Type.String()),
  details: Type.Record(Type.String(), Type.Unknown()),
  firstAt: Type.String({ format: 'date-time' }),
  lastAt: Type.String({ format: 'date-time' }),
  occurrences: Type.Integer(),
  notifiedAt: Nullable(Type.String({ format: 'date-time' })),
});
export const AlertList = Type.Object({ alerts: Type.Array(AlertView), next: Nullable(Type.String()) });
export const AlertQuery = Type.Object(
  {
    /** 1–500, default 50 (a query string: digits). */
    limit: Type.Optional(Type.String({ pattern: '^(500|[1-4][0-9]{2}|[1-9][0-9]?)$' })),
    before: Type.Optional(Type.String({ pattern: '^alr_[0-9A-HJKMNP-TV-Z]{26}$' })),
    accountId: Type.Optional(AccountId),
  },
  { additionalProperties: false },
);

export const RuntimeSettingsView = Type.Object({
  /** In force (the defaults shown are the built-in ones; a service's environment may set others). */
  settings: RuntimeSettings,
  /** Only what was set. */
  stored: StoredRuntimeSettings,
  revision: Type.Integer(),
});

// ---- suppressions ----

const HashHex = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the normalised address, hex' });

export const SuppressionView = Type.Object({
  addressHash: HashHex,
  /** The normalised address as stored; null for rows written without it. */
  address: Nullable(Type.String()),
  reason: Type.String(),
  source: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
});
export type SuppressionView = Static<typeof SuppressionView>;

export const SuppressionList = Type.Object({ suppressions: Type.Array(SuppressionView), next: Nullable(Type.String()) });

export const SuppressionQuery = Type.Object(
  {
    /** 1–500, default 50 (a query string: digits). */
    limit: Type.Optional(Type.String({ pattern: '^(500|[1-4][0-9]{2}|[1-9][0-9]?)$' })),
    /** The `next` of the previous page (opaque). */
    after: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,200}$' })),
    /** One address, looked up exactly (after normalising). */
    q: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);

const SuppressionReason = Type.String({ minLength: 1, maxLength: 100 });

export const AddSuppression = Type.Object(
  { address: Type.String({ maxLength: 1000, description: 'Checked by the address parser (400 invalid_address)' }), reason: Type.Optional(SuppressionReason) },
  { additionalProperties: false },
);

export const AddedSuppression = Type.Object({ created: Type.Boolean(), suppression: SuppressionView });

export const MAX_SUPPRESSION_IMPORT = 10_000;
export const ImportSuppressions = Type.Object(
  { addresses: Type.Array(Type.String({ maxLength: 1000 }), { minItems: 1, maxItems: MAX_SUPPRESSION_IMPORT }), reason: Type.Optional(SuppressionReason) },
  { additionalProperties: false },
);

export const ImportResult = Type.Object({
  added: Type.Integer(),
  /** Already on the list, or repeated within the import (after normalising). */
  alreadySuppressed: Type.Integer(),
  invalid: Type.Array(Type.Object({ index: Type.Integer(), address: Type.String(), code: Type.String() })),
});

export const AddressHashParam = Type.Object({ addressHash: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }) });

export const RemoveSuppression = Type.Object({ reason: Type.String({ minLength: 1, maxLength: 500 }) }, { additionalProperties: false });

export const RemovedSuppression = Type.Object({ removed: SuppressionView, reason: Type.String(), actor: Type.String() });

export const SetDkim = Type.Object(
  {
    domain: Type.String({ minLength: 1, maxLength: 253 }),
    selector: Type.String({ minLength: 1, maxLength: 63 }),
    /** PEM (PKCS#8 or PKCS#1): RSA of at least 1024 bits (2048 advised) or Ed25519. Write-only. */
    privateKey: Type.String({ minLength: 1, maxLength: 16_384, writeOnly: true }),
  },
  { additionalProperties: false },
);
export type SetDkim = Static<typeof SetDkim>;

export const DkimView = Type.Object({
  accountId: AccountId,
  domain: Type.String(),
  selector: Type.String(),
  /** The record to publish in DNS for receivers to verify the signatures. */
  dnsRecord: Type.Object({ name: Type.String(), type: Type.Literal('TXT'), value: Type.String() }),
});
