import { Type, type Static } from '@sinclair/typebox';
import { Actor, Email, HeaderText, IsoTime, SecretId } from '../schema.js';
import { envelope } from './envelope.js';

export const TlsMode = Type.Union([Type.Literal('implicit'), Type.Literal('starttls'), Type.Literal('none')]);
export type TlsMode = Static<typeof TlsMode>;

export const SmtpSettings = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:\\[\\]-]+$' }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    tls: TlsMode,
    user: HeaderText(320),
    /** The password lives encrypted in Postgres; events carry only its id (invariant 8). */
    secretId: SecretId,
  },
  { additionalProperties: false },
);
export type SmtpSettings = Static<typeof SmtpSettings>;

/**
 * A Gmail API account: a service account with domain-wide delegation impersonates `user`
 * (the From address). The key file lives encrypted in Postgres; events carry only its id
 * (invariant 8). `workspaceTrial`: Google's lower daily limit (500) applies.
 */
export const GmailSettings = Type.Object(
  {
    user: Email,
    secretId: SecretId,
    workspaceTrial: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type GmailSettings = Static<typeof GmailSettings>;

export const Provider = Type.Union([Type.Literal('smtp'), Type.Literal('gmail')]);
export type Provider = Static<typeof Provider>;

export const Warmup = Type.Object(
  {
    days: Type.Integer({ minimum: 1, maximum: 365 }),
    startLimit: Type.Integer({ minimum: 1, maximum: 10_000_000 }),
    startedAt: IsoTime,
  },
  { additionalProperties: false },
);
export type Warmup = Static<typeof Warmup>;

/** DKIM for an SMTP account: the signing domain and selector; the private key is a secret (its id only). */
export const DkimSettings = Type.Object(
  {
    domain: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$' }),
    selector: Type.String({ minLength: 1, maxLength: 63, pattern: '^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$' }),
    secretId: SecretId,
  },
  { additionalProperties: false },
);
export type DkimSettings = Static<typeof DkimSettings>;

export const SendingSettings = Type.Object(
  {
    dailyLimit: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
    batchSize: Type.Integer({ minimum: 1, maximum: 1000 }),
    sendDelayMs: Type.Integer({ minimum: 0, maximum: 3_600_000 }),
    postalAddress: Type.Union([HeaderText(500), Type.Null()]),
    fromName: Type.Union([HeaderText(200), Type.Null()]),
    /**
     * Optional warm-up: the limit ramps linearly from `startLimit` on the first day to
     * `dailyLimit` after `days` days, counted from `startedAt` (a new account's registration).
     */
    warmup: Type.Optional(Type.Union([Warmup, Type.Null()])),
    /** Sign outgoing mail (SMTP accounts; the Gmail API signs with Google's key). */
    dkim: Type.Optional(Type.Union([DkimSettings, Type.Null()])),
    /**
     * VERP (SMTP accounts whose server allows it): the envelope sender names the message,
     * `local+pb-<id>@domain`, so a bounce maps to its message even when the report does not.
     */
    verp: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type SendingSettings = Static<typeof SendingSettings>;

const registration = { name: HeaderText(200), fromAddress: Email, settings: SendingSettings, actor: Actor };

/**
 * Version 1 for both providers: an SMTP registration is exactly what it always was (events
 * stored before Gmail accounts existed still validate); a Gmail one has `gmail` instead of `smtp`.
 */
export const AccountRegistered = envelope(
  'AccountRegistered',
  1,
  Type.Union([
    Type.Object({ ...registration, provider: Type.Literal('smtp'), smtp: SmtpSettings }, { additionalProperties: false }),
    Type.Object({ ...registration, provider: Type.Literal('gmail'), gmail: GmailSettings }, { additionalProperties: false }),
  ]),
);
export type AccountRegistered = Static<typeof AccountRegistered>;

export const AccountSettingsChanged = envelope(
  'AccountSettingsChanged',
  1,
  Type.Object(
    { changes: Type.Partial(SendingSettings), actor: Actor },
    { additionalProperties: false },
  ),
);
export type AccountSettingsChanged = Static<typeof AccountSettingsChanged>;

export const AccountCredentialsChanged = envelope(
  'AccountCredentialsChanged',
  1,
  Type.Union([
    Type.Object({ smtp: SmtpSettings, actor: Actor }, { additionalProperties: false }),
    Type.Object({ gmail: GmailSettings, actor: Actor }, { additionalProperties: false }),
  ]),
);
export type AccountCredentialsChanged = Static<typeof AccountCredentialsChanged>;

/**
 * Where an account is in its lifecycle. Every state but `active` stops its worker.
 * - `paused`: by a person; only a person resumes it.
 * - `paused_limit_reached`: its daily or rolling-24 h limit; resumes by itself when room returns.
 * - `paused_provider_limit`: the provider's rate or daily limit; resumes after `until`.
 * - `paused_bounce_rate`, `paused_complaint_rate`: measured rates over the threshold; a person resumes.
 * - `paused_worker_failing`: its worker crashed more than 3 times in an hour; a person resumes.
 * - `suspended`: credentials rejected, disabled by the provider, or unknown; a person resumes.
 */
export const AccountStatus = Type.Union([
  Type.Literal('active'),
  Type.Literal('paused'),
  Type.Literal('paused_limit_reached'),
  Type.Literal('paused_provider_limit'),
  Type.Literal('paused_bounce_rate'),
  Type.Literal('paused_complaint_rate'),
  Type.Literal('paused_worker_failing'),
  Type.Literal('suspended'),
]);
export type AccountStatus = Static<typeof AccountStatus>;
export type StoppedStatus = Exclude<AccountStatus, 'active'>;

export const SuspensionReason = Type.Union([
  Type.Literal('credentials_rejected'),
  Type.Literal('disabled_by_provider'),
  Type.Literal('unknown'),
]);
export type SuspensionReason = Static<typeof SuspensionReason>;

const Reason = Type.String({ minLength: 1, maxLength: 500 });

export const AccountPaused = envelope(
  'AccountPaused',
  1,
  Type.Object(
    {
      status: Type.Union([
        Type.Literal('paused'),
        Type.Literal('paused_limit_reached'),
        Type.Literal('paused_provider_limit'),
        Type.Literal('paused_bounce_rate'),
        Type.Literal('paused_complaint_rate'),
        Type.Literal('paused_worker_failing'),
      ]),
      reason: Reason,
      actor: Actor,
      /** `paused_provider_limit`: when the provider allows sending again. */
      until: Type.Optional(IsoTime),
    },
    { additionalProperties: false },
  ),
);
export type AccountPaused = Static<typeof AccountPaused>;

export const AccountSuspended = envelope(
  'AccountSuspended',
  1,
  Type.Object({ reason: SuspensionReason, detail: Type.Optional(Reason), actor: Actor }, { additionalProperties: false }),
);
export type AccountSuspended = Static<typeof AccountSuspended>;

export const AccountResumed = envelope(
  'AccountResumed',
  1,
  Type.Object({ from: AccountStatus, reason: Reason, actor: Actor }, { additionalProperties: false }),
);
export type AccountResumed = Static<typeof AccountResumed>;

export type AccountEvent = AccountRegistered | AccountSettingsChanged | AccountCredentialsChanged | AccountPaused | AccountSuspended | AccountResumed;
export const accountEventSchemas = [
  AccountRegistered,
  AccountSettingsChanged,
  AccountCredentialsChanged,
  AccountPaused,
  AccountSuspended,
  AccountResumed,
] as const;
