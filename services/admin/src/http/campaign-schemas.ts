import { Type, type Static } from '@sinclair/typebox';
import { AccountId, type MessageKind } from '@postbus/contracts';
import { LIMITS } from '../deps.js';
import { MessageInput } from './schemas.js';

/** HTTP shapes of /v1/campaigns. Template fields are checked like a message's (same codes). */
export const CAMPAIGN_LIMITS = Object.freeze({ inlineRecipients: 1000, chunkRecipients: 1000 });

export const CampaignId = Type.String({ pattern: '^cmp_[0-9A-HJKMNP-TV-Z]{26}$' });

export const RecipientInput = Type.Object(
  {
    to: Type.String({ maxLength: 1000 }),
    toName: Type.Optional(Type.String({ maxLength: 200 })),
    variables: MessageInput.properties.variables,
  },
  { additionalProperties: false },
);
export type RecipientInput = Static<typeof RecipientInput>;

export const CreateCampaign = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    kind: Type.Optional(Type.Unsafe<MessageKind>({ type: 'string', enum: ['bulk', 'transactional'], description: 'Default: bulk (needs a postal address on its account)' })),
    accountId: Type.Optional(AccountId),
    subject: MessageInput.properties.subject,
    text: MessageInput.properties.text,
    html: MessageInput.properties.html,
    replyTo: MessageInput.properties.replyTo,
    headers: MessageInput.properties.headers,
    tracking: MessageInput.properties.tracking,
    expiresInHours: MessageInput.properties.expiresInHours,
    /** A send without a time of its own goes out then. */
    sendAt: Type.Optional(Type.String({ format: 'date-time' })),
    recipients: Type.Optional(Type.Array(RecipientInput, { maxItems: CAMPAIGN_LIMITS.inlineRecipients, description: `Up to ${CAMPAIGN_LIMITS.inlineRecipients}; more through POST /v1/campaigns/{id}/recipients` })),
  },
  { additionalProperties: false },
);
export type CreateCampaign = Static<typeof CreateCampaign>;

export const RecipientChunk = Type.Object(
  {
    /** Idempotency per chunk: the same key with the same recipients adds nothing again. */
    chunkKey: Type.String({ pattern: LIMITS.idempotencyKeyPattern }),
    recipients: Type.Array(RecipientInput, { minItems: 1, maxItems: CAMPAIGN_LIMITS.chunkRecipients }),
  },
  { additionalProperties: false },
);
export type RecipientChunk = Static<typeof RecipientChunk>;

export const ChunkResultView = Type.Object({
  campaignId: CampaignId,
  chunkKey: Type.String(),
  added: Type.Integer(),
  /** Addresses already in the campaign (after normalisation): one message each. */
  duplicates: Type.Integer(),
  replayed: Type.Boolean(),
});

export const SendCampaign = Type.Object({ at: Type.Optional(Type.String({ format: 'date-time', description: 'Default: the campaign’s sendAt, else now' })) }, { additionalProperties: false });
export const ReasonBody = Type.Object({ reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })) }, { additionalProperties: false });

const Human = Type.Object({ human: Type.Integer(), raw: Type.Integer() });
export const CampaignProgress = Type.Object({
  recipients: Type.Integer(),
  /** Turned into messages by the expansion. */
  requested: Type.Integer(),
  /** By the read table's state: waiting for room, queued (assigned, claimed, sending) or waiting for a retry. */
  waiting: Type.Integer(),
  queued: Type.Integer(),
  retrying: Type.Integer(),
  sent: Type.Integer(),
  failed: Type.Integer(),
  suppressed: Type.Integer(),
  uncertain: Type.Integer(),
  expired: Type.Integer(),
  cancelled: Type.Integer(),
  bounced: Type.Integer(),
  complained: Type.Integer(),
  /** Messages opened / clicked at least once: by a person (human) or by anything (raw). */
  opened: Human,
  clicked: Human,
});

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
export const CampaignView = Type.Object({
  id: CampaignId,
  name: Type.String(),
  kind: Type.String(),
  accountId: Nullable(Type.String()),
  status: Type.String(),
  statusReason: Type.String(),
  statusActor: Type.String(),
  statusSince: Type.String({ format: 'date-time' }),
  sendAt: Nullable(Type.String({ format: 'date-time' })),
  scheduledAt: Nullable(Type.String({ format: 'date-time' })),
  subject: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  progress: Type.Optional(CampaignProgress),
});
export type CampaignView = Static<typeof CampaignView>;
