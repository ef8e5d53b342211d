import { Type, type Static } from '@sinclair/typebox';
import { AccountId, MessageId, TAG_PATTERN, TlsMode, type MessageKind } from '@postbus/contracts';
import { LIMITS } from '../deps.js';

/**
 * HTTP shapes. Fields whose problems have their own error code (addresses, header text,
 * sizes) are deliberately loose here: the handler checks them and names the code, which a
 * schema failure (400 `invalid_request`) could not.
 */
const LooseText = (maxLength: number) => Type.String({ maxLength });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

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
};

export const CreateAccount = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    fromAddress: Type.String({ maxLength: 1000 }),
    fromName: Type.Optional(LooseText(200)),
    smtp: Type.Object(
      {
        host: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:\\[\\]-]+$' }),
        port: Type.Integer({ minimum: 1, maximum: 65535 }),
        tls: TlsMode,
        user: LooseText(320),
        password: Type.String({ minLength: 1, maxLength: 4096, writeOnly: true }),
      },
      { additionalProperties: false },
    ),
    dailyLimit: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000, default: 500 })),
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
    sendDelayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000, default: 0 })),
    postalAddress: Type.Optional(LooseText(500)),
  },
  { additionalProperties: false },
);
export type CreateAccount = Static<typeof CreateAccount>;

export const ChangeSettings = Type.Partial(Type.Object(settingsFields), { additionalProperties: false, minProperties: 1 });
export type ChangeSettings = Static<typeof ChangeSettings>;

export const AccountView = Type.Object({
  id: AccountId,
  name: Type.String(),
  provider: Type.Literal('smtp'),
  fromAddress: Type.String(),
  smtp: Type.Object({
    host: Type.String(),
    port: Type.Integer(),
    tls: TlsMode,
    user: Type.String(),
    secretId: Type.String(),
  }),
  settings: Type.Object(settingsFields),
  status: Type.String(),
  registeredAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
