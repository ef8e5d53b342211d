import { Type, type Static } from '@sinclair/typebox';
import { AccountId, Actor, CampaignTag, Email, HeaderText, IsoTime } from '../schema.js';
import { envelope } from './envelope.js';
import { HeaderName, MessageKind } from './mail.js';

/**
 * CAMPAIGNS `camp.<campaignId>`: the campaign aggregate, one subject per campaign (appends
 * carry `expect.lastSubjectSequence`). Recipients' addresses are not here: they live in
 * Postgres (`campaign_recipients`) and reach the log one message at a time, in `EmailRequested`.
 */
export const CampaignTemplate = Type.Object(
  {
    subject: HeaderText(998),
    text: Type.Optional(Type.String({ maxLength: 512 * 1024 })),
    html: Type.Optional(Type.String({ maxLength: 512 * 1024 })),
    replyTo: Type.Optional(Email),
    headers: Type.Optional(Type.Record(HeaderName, HeaderText(998), { maxProperties: 20 })),
    tracking: Type.Optional(Type.Object({ opens: Type.Optional(Type.Boolean()), clicks: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type CampaignTemplate = Static<typeof CampaignTemplate>;

export const CampaignCreated = envelope(
  'CampaignCreated',
  1,
  Type.Object(
    {
      campaignId: CampaignTag,
      name: HeaderText(200),
      kind: MessageKind,
      accountId: Type.Optional(AccountId),
      template: CampaignTemplate,
      expiresInHours: Type.Integer({ minimum: 1, maximum: 720 }),
      /** When a send without a time of its own goes out (absent: at once). */
      sendAt: Type.Optional(IsoTime),
      actor: Actor,
    },
    { additionalProperties: false },
  ),
);
export type CampaignCreated = Static<typeof CampaignCreated>;

/** A chunk of recipients stored in Postgres; `chunkKey` makes a retried import add nothing. */
export const RecipientsAdded = envelope(
  'RecipientsAdded',
  1,
  Type.Object(
    {
      chunkKey: Type.String({ minLength: 1, maxLength: 200 }),
      count: Type.Integer({ minimum: 0 }),
      actor: Actor,
    },
    { additionalProperties: false },
  ),
);
export type RecipientsAdded = Static<typeof RecipientsAdded>;

export const CampaignScheduled = envelope('CampaignScheduled', 1, Type.Object({ at: IsoTime, actor: Actor }, { additionalProperties: false }));
export type CampaignScheduled = Static<typeof CampaignScheduled>;

export const CampaignStarted = envelope('CampaignStarted', 1, Type.Object({ actor: Actor }, { additionalProperties: false }));
export type CampaignStarted = Static<typeof CampaignStarted>;

const WithReason = Type.Object({ reason: Type.String({ minLength: 1, maxLength: 500 }), actor: Actor }, { additionalProperties: false });

export const CampaignPaused = envelope('CampaignPaused', 1, WithReason);
export type CampaignPaused = Static<typeof CampaignPaused>;

export const CampaignResumed = envelope('CampaignResumed', 1, WithReason);
export type CampaignResumed = Static<typeof CampaignResumed>;

export const CampaignCancelled = envelope('CampaignCancelled', 1, WithReason);
export type CampaignCancelled = Static<typeof CampaignCancelled>;

/** Every recipient has been requested (the expansion is done); their outcomes come later. */
export const CampaignCompleted = envelope('CampaignCompleted', 1, Type.Object({ requested: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }));
export type CampaignCompleted = Static<typeof CampaignCompleted>;

export type CampaignEvent =
  | CampaignCreated
  | RecipientsAdded
  | CampaignScheduled
  | CampaignStarted
  | CampaignPaused
  | CampaignResumed
  | CampaignCancelled
  | CampaignCompleted;

export const campaignEventSchemas = [
  CampaignCreated,
  RecipientsAdded,
  CampaignScheduled,
  CampaignStarted,
  CampaignPaused,
  CampaignResumed,
  CampaignCancelled,
  CampaignCompleted,
] as const;
