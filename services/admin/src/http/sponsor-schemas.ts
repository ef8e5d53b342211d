import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { OfferId, SponsorId, SponsorKeyId } from '@postbus/contracts';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]*$' });
/** Checked again in the route (https, public host): the schema only bounds it. */
const Url = Type.String({ minLength: 8, maxLength: 2048, pattern: '^https?://[\\x21-\\x7e]+$' });
const Time = Type.String({ format: 'date-time' });
const Limit = Type.Optional(Type.String({ pattern: '^(500|[1-4][0-9]{2}|[1-9][0-9]?)$' }));
const After = Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' }));

export const PageQuery = Type.Object({ limit: Limit, after: After }, { additionalProperties: false });
export type PageQuery = Static<typeof PageQuery>;

export const SponsorParams = Type.Object({ id: SponsorId });
export const OfferParams = Type.Object({ id: OfferId });
export const KeyParams = Type.Object({ id: SponsorId, keyId: SponsorKeyId });

export const SponsorView = Type.Object({ id: Type.String(), name: Type.String(), endpointUrl: Nullable(Type.String()), createdAt: Time, updatedAt: Time });
export type SponsorView = Static<typeof SponsorView>;
export const SponsorList = Type.Object({ sponsors: Type.Array(SponsorView), next: Nullable(Type.String()) });

export const CreateSponsor = Type.Object({ name: Name, endpointUrl: Type.Optional(Nullable(Url)) }, { additionalProperties: false });
export const UpdateSponsor = Type.Object({ name: Type.Optional(Name), endpointUrl: Type.Optional(Nullable(Url)) }, { additionalProperties: false, minProperties: 1 });
/** The signing secret is in this answer only: it is never shown again. */
export const SponsorWithSecret = Type.Object({ sponsor: SponsorView, signingSecret: Type.String() });

export const OfferView = Type.Object({ id: Type.String(), sponsorId: Type.String(), name: Type.String(), landingUrl: Type.String(), active: Type.Boolean(), createdAt: Time, updatedAt: Time });
export type OfferView = Static<typeof OfferView>;
export const OfferList = Type.Object({ offers: Type.Array(OfferView), next: Nullable(Type.String()) });
export const CreateOffer = Type.Object({ name: Name, landingUrl: Url, active: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
export const UpdateOffer = Type.Object({ name: Type.Optional(Name), landingUrl: Type.Optional(Url), active: Type.Optional(Type.Boolean()) }, { additionalProperties: false, minProperties: 1 });

export const KeyView = Type.Object({ id: Type.String(), sponsorId: Type.String(), prefix: Type.String(), label: Nullable(Type.String()), createdAt: Time, lastUsedAt: Nullable(Time), revokedAt: Nullable(Time) });
export type KeyView = Static<typeof KeyView>;
export const KeyList = Type.Object({ keys: Type.Array(KeyView), next: Nullable(Type.String()) });
export const CreateKey = Type.Object({ label: Type.Optional(Name) }, { additionalProperties: false });
/** The API key is in this answer only: it is stored as a hash. */
export const CreatedKey = Type.Object({ key: KeyView, apiKey: Type.String() });
