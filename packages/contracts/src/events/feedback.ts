import { Type, type Static } from '@sinclair/typebox';
import { CampaignTag } from '../schema.js';
import { envelope } from './envelope.js';

const Hex64 = Type.String({ pattern: '^[0-9a-f]{64}$' });

/**
 * What a failure says about the address (packages/classify): `hard` — the address is dead
 * (suppressed); `soft` — full, expired, temporary (suppressed only when repeated); `sender`
 * — policy, spam filtering, reputation, authentication, rate or size: the sender's or the
 * message's fault, never the recipient's (it counts against the account instead).
 */
export const BounceSeverity = Type.Union([Type.Literal('hard'), Type.Literal('soft'), Type.Literal('sender')]);
export type BounceSeverity = Static<typeof BounceSeverity>;

/**
 * MAIL `mail.<accountId>.bounced`: a bounce report for one of our messages. The address is
 * given as its hash; the diagnostic has addresses blanked out.
 */
export const EmailBounced = envelope(
  'EmailBounced',
  1,
  Type.Object(
    {
      campaignId: Type.Optional(CampaignTag),
      addressHash: Hex64,
      severity: BounceSeverity,
      reason: Type.String({ minLength: 1, maxLength: 64 }),
      status: Type.Optional(Type.String({ pattern: '^[245]\\.[0-9]{1,3}\\.[0-9]{1,3}$' })),
      replyCode: Type.Optional(Type.Integer({ minimum: 200, maximum: 599 })),
      diagnostic: Type.Optional(Type.String({ maxLength: 500 })),
      /** The address is suppressed because of this bounce (hard, or soft bounces repeated). */
      suppressed: Type.Boolean(),
      /** Where the report came from: `imap:<mailbox id>` or `gmail:<account>`. */
      source: Type.String({ minLength: 1, maxLength: 100 }),
    },
    { additionalProperties: false },
  ),
);
export type EmailBounced = Static<typeof EmailBounced>;

/** MAIL `mail.<accountId>.complained`: a feedback-loop (ARF) report; the address is suppressed. */
export const EmailComplained = envelope(
  'EmailComplained',
  1,
  Type.Object(
    {
      campaignId: Type.Optional(CampaignTag),
      addressHash: Hex64,
      feedbackType: Type.String({ minLength: 1, maxLength: 40 }),
      userAgent: Type.Optional(Type.String({ maxLength: 200 })),
      source: Type.String({ minLength: 1, maxLength: 100 }),
    },
    { additionalProperties: false },
  ),
);
export type EmailComplained = Static<typeof EmailComplained>;

export type FeedbackEvent = EmailBounced | EmailComplained;
export const feedbackEventSchemas = [EmailBounced, EmailComplained] as const;

export const FEEDBACK_SUBJECT_TOKEN: Record<FeedbackEvent['type'], string> = {
  EmailBounced: 'bounced',
  EmailComplained: 'complained',
};
