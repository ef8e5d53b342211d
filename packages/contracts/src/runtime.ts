import { Type, type Static } from '@sinclair/typebox';
import { TAG_PATTERN } from './ids.js';

/** A campaign's own tracking switches (never above the platform's). */
export const CampaignTracking = Type.Object({ opens: Type.Boolean(), clicks: Type.Boolean() }, { additionalProperties: false });
export type CampaignTracking = Static<typeof CampaignTracking>;
const CampaignTag = Type.String({ pattern: TAG_PATTERN });
export const MAX_CAMPAIGN_TRACKING = 1_000;

/**
 * Platform-wide settings that change at runtime without restarts: stored as one JSON value
 * under `runtime` in the `postbus_config` KV bucket, watched by the services that use them.
 * Every field is optional in the stored value; what is absent takes the service's default
 * (from its environment).
 */
export const RuntimeSettings = Type.Object(
  {
    /** More queued messages than this raises a backlog alert (0: never). */
    backlogAlertThreshold: Type.Integer({ minimum: 0, maximum: 100_000_000 }),
    /** Worker restarts per account per hour beyond which the account is paused. */
    maxWorkerRestartsPerHour: Type.Integer({ minimum: 1, maximum: 1_000 }),
    /** Accounts moved per placement pass to even out sender nodes (0: never move a working account). */
    rebalanceMovesPerPass: Type.Integer({ minimum: 0, maximum: 10_000 }),
    /** Platform-wide switches: off means no message gets an open pixel, or tracked links. */
    trackOpens: Type.Boolean(),
    trackClicks: Type.Boolean(),
    /**
     * Per campaign (by its tag): tracking switched off for that campaign's messages, queued
     * ones included, at their next compose. Absent: the campaign follows the platform.
     */
    campaignTracking: Type.Record(CampaignTag, CampaignTracking, { maxProperties: MAX_CAMPAIGN_TRACKING, additionalProperties: false }),
  },
  { additionalProperties: false },
);
export type RuntimeSettings = Static<typeof RuntimeSettings>;

/**
 * A change: the fields given replace the stored ones, except `campaignTracking`, merged by
 * campaign (`null` removes a campaign's entry).
 */
export const RuntimeSettingsPatch = Type.Composite(
  [
    Type.Partial(Type.Omit(RuntimeSettings, ['campaignTracking'])),
    Type.Object({ campaignTracking: Type.Optional(Type.Record(CampaignTag, Type.Union([CampaignTracking, Type.Null()]), { maxProperties: MAX_CAMPAIGN_TRACKING, additionalProperties: false })) }),
  ],
  { additionalProperties: false },
);
export type RuntimeSettingsPatch = Static<typeof RuntimeSettingsPatch>;

/** What is stored: a partial settings object (no nulls). */
export const StoredRuntimeSettings = Type.Partial(RuntimeSettings, { additionalProperties: false });
export type StoredRuntimeSettings = Static<typeof StoredRuntimeSettings>;

/** The tracking a message of `campaignId` may have: the platform's switches and its campaign's, both. */
export function trackingFor(s: RuntimeSettings, campaignId: string | undefined): { opens: boolean; clicks: boolean } {
  const c = campaignId !== undefined ? s.campaignTracking[campaignId] : undefined;
  return { opens: s.trackOpens && (c?.opens ?? true), clicks: s.trackClicks && (c?.clicks ?? true) };
}

export const RUNTIME_SETTINGS_KEY = 'runtime';

export const DEFAULT_RUNTIME_SETTINGS: RuntimeSettings = Object.freeze({
  backlogAlertThreshold: 10_000,
  maxWorkerRestartsPerHour: 3,
  rebalanceMovesPerPass: 5,
  trackOpens: true,
  trackClicks: true,
  campaignTracking: {},
});
