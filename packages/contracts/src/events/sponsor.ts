import { Type, type Static } from '@sinclair/typebox';
import { derivedId, newId } from '../ids.js';
import { Actor } from '../schema.js';
import { envelope } from './envelope.js';

/**
 * The SPONSORS stream, `sponsor.<sponsorId>`: one subject per sponsor, its offers, API keys and
 * leads. No event carries a signing secret, an API key or a lead's address: keys appear as
 * their public prefix, addresses as the SHA-256 of the normalised address (the stream is kept
 * for ever and denies delete, so a person's address has no place in it; the lead itself waits
 * encrypted in Postgres for forwarding).
 */
export const SponsorId = Type.String({ pattern: '^spn_[0-9A-HJKMNP-TV-Z]{26}$' });
export const OfferId = Type.String({ pattern: '^off_[0-9A-HJKMNP-TV-Z]{26}$' });
export const SponsorKeyId = Type.String({ pattern: '^spk_[0-9A-HJKMNP-TV-Z]{26}$' });
export const LeadId = Type.String({ pattern: '^led_[0-9A-HJKMNP-TV-Z]{26}$' });
const Hex64 = Type.String({ pattern: '^[0-9a-f]{64}$' });
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Url = Type.String({ minLength: 1, maxLength: 2048 });

export const SPONSOR_ID_PATTERN = /^spn_[0-9A-HJKMNP-TV-Z]{26}$/;
export const OFFER_ID_PATTERN = /^off_[0-9A-HJKMNP-TV-Z]{26}$/;

type SponsorIdPrefix = 'spn' | 'off' | 'spk' | 'led';

/** Time-ordered ids for the sponsor aggregate (the shared ULID layout, prefixes of their own). */
export function newSponsorScopedId(prefix: SponsorIdPrefix, now: number = Date.now()): string {
  return `${prefix}${newId('evt', now).slice(3)}`;
}

/** Event ids derived from their cause: the same change published twice is one fact. */
export const sponsorEventId = (...parts: ReadonlyArray<string | number>) => derivedId('evt', 'sponsor', ...parts);

export const SponsorCreated = envelope(
  'SponsorCreated',
  1,
  Type.Object({ sponsorId: SponsorId, name: Name, endpointUrl: Type.Union([Url, Type.Null()]), actor: Actor }, { additionalProperties: false }),
);
export type SponsorCreated = Static<typeof SponsorCreated>;

/** Name or endpoint changed, or the signing secret replaced (`secretRotated`; never the secret). */
export const SponsorUpdated = envelope(
  'SponsorUpdated',
  1,
  Type.Object(
    {
      sponsorId: SponsorId,
      name: Type.Optional(Name),
      endpointUrl: Type.Optional(Type.Union([Url, Type.Null()])),
      secretRotated: Type.Optional(Type.Boolean()),
      actor: Actor,
    },
    { additionalProperties: false },
  ),
);
export type SponsorUpdated = Static<typeof SponsorUpdated>;

export const OfferCreated = envelope(
  'OfferCreated',
  1,
  Type.Object({ sponsorId: SponsorId, offerId: OfferId, name: Name, landingUrl: Url, active: Type.Boolean(), actor: Actor }, { additionalProperties: false }),
);
export type OfferCreated = Static<typeof OfferCreated>;

export const OfferUpdated = envelope(
  'OfferUpdated',
  1,
  Type.Object(
    { sponsorId: SponsorId, offerId: OfferId, name: Type.Optional(Name), landingUrl: Type.Optional(Url), active: Type.Optional(Type.Boolean()), actor: Actor },
    { additionalProperties: false },
  ),
);
export type OfferUpdated = Static<typeof OfferUpdated>;

/** An API key made: its id and public prefix only. */
export const SponsorKeyCreated = envelope(
  'SponsorKeyCreated',
  1,
  Type.Object({ sponsorId: SponsorId, keyId: SponsorKeyId, prefix: Type.String({ pattern: '^[a-z0-9]{8,16}$' }), actor: Actor }, { additionalProperties: false }),
);
export type SponsorKeyCreated = Static<typeof SponsorKeyCreated>;

export const SponsorKeyRevoked = envelope(
  'SponsorKeyRevoked',
  1,
  Type.Object({ sponsorId: SponsorId, keyId: SponsorKeyId, actor: Actor }, { additionalProperties: false }),
);
export type SponsorKeyRevoked = Static<typeof SponsorKeyRevoked>;

/** A lead accepted by the gateway; `via` says which credential brought it. */
export const LeadReceived = envelope(
  'LeadReceived',
  1,
  Type.Object(
    {
      sponsorId: SponsorId,
      offerId: OfferId,
      leadId: LeadId,
      addressHash: Hex64,
      via: Type.Union([Type.Literal('api_key'), Type.Literal('lead_token')]),
      keyId: Type.Optional(SponsorKeyId),
      consentSource: Type.String({ minLength: 1, maxLength: 200 }),
    },
    { additionalProperties: false },
  ),
);
export type LeadReceived = Static<typeof LeadReceived>;

/** The sponsor's endpoint answered 2xx (perhaps after retries). */
export const LeadForwarded = envelope(
  'LeadForwarded',
  1,
  Type.Object({ sponsorId: SponsorId, leadId: LeadId, attempts: Type.Integer({ minimum: 1 }), status: Type.Integer({ minimum: 200, maximum: 299 }) }, { additionalProperties: false }),
);
export type LeadForwarded = Static<typeof LeadForwarded>;

/** Every attempt used up, or the endpoint refused for good (4xx other than 408/429): an operator looks. */
export const LeadForwardingFailed = envelope(
  'LeadForwardingFailed',
  1,
  Type.Object(
    { sponsorId: SponsorId, leadId: LeadId, attempts: Type.Integer({ minimum: 1 }), reason: Type.String({ minLength: 1, maxLength: 200 }) },
    { additionalProperties: false },
  ),
);
export type LeadForwardingFailed = Static<typeof LeadForwardingFailed>;

export type SponsorEvent =
  | SponsorCreated
  | SponsorUpdated
  | OfferCreated
  | OfferUpdated
  | SponsorKeyCreated
  | SponsorKeyRevoked
  | LeadReceived
  | LeadForwarded
  | LeadForwardingFailed;

export const sponsorEventSchemas = [
  SponsorCreated,
  SponsorUpdated,
  OfferCreated,
  OfferUpdated,
  SponsorKeyCreated,
  SponsorKeyRevoked,
  LeadReceived,
  LeadForwarded,
  LeadForwardingFailed,
] as const;
