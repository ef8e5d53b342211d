import { Type, type Static } from '@sinclair/typebox';
import { Actor, Email, HeaderText, SecretId } from '../schema.js';
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

export const SendingSettings = Type.Object(
  {
    dailyLimit: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
    batchSize: Type.Integer({ minimum: 1, maximum: 1000 }),
    sendDelayMs: Type.Integer({ minimum: 0, maximum: 3_600_000 }),
    postalAddress: Type.Union([HeaderText(500), Type.Null()]),
    fromName: Type.Union([HeaderText(200), Type.Null()]),
  },
  { additionalProperties: false },
);
export type SendingSettings = Static<typeof SendingSettings>;

export const AccountRegistered = envelope(
  'AccountRegistered',
  1,
  Type.Object(
    {
      name: HeaderText(200),
      provider: Type.Literal('smtp'),
      fromAddress: Email,
      smtp: SmtpSettings,
      settings: SendingSettings,
      actor: Actor,
    },
    { additionalProperties: false },
  ),
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
  Type.Object({ smtp: SmtpSettings, actor: Actor }, { additionalProperties: false }),
);
export type AccountCredentialsChanged = Static<typeof AccountCredentialsChanged>;

export type AccountEvent = AccountRegistered | AccountSettingsChanged | AccountCredentialsChanged;
export const accountEventSchemas = [AccountRegistered, AccountSettingsChanged, AccountCredentialsChanged] as const;
