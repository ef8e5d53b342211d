import { Type, type Static } from '@sinclair/typebox';

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
  },
  { additionalProperties: false },
);
export type RuntimeSettings = Static<typeof RuntimeSettings>;

export const RuntimeSettingsPatch = Type.Partial(RuntimeSettings, { additionalProperties: false });
export type RuntimeSettingsPatch = Static<typeof RuntimeSettingsPatch>;

export const RUNTIME_SETTINGS_KEY = 'runtime';

export const DEFAULT_RUNTIME_SETTINGS: RuntimeSettings = Object.freeze({
  backlogAlertThreshold: 10_000,
  maxWorkerRestartsPerHour: 3,
  rebalanceMovesPerPass: 5,
  trackOpens: true,
  trackClicks: true,
});
