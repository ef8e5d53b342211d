import { hashSponsorApiKey, sponsorApiKeyMatches, sponsorApiKeyPrefix } from '@postbus/contracts';
import { findSponsorKey, getOffer, touchSponsorKey, type Database, type OfferRow } from '@postbus/db';
import type { LeadTokens } from '@postbus/secrets';
import type { FastifyRequest } from 'fastify';

/**
 * Who is calling: a sponsor's server with an API key (`Authorization: Bearer pbsk_…`), scoped to
 * its one sponsor, or a landing page with a lead token (`Postbus-Lead-Token`), scoped to one
 * offer of one message's recipient. Nothing else opens any route here.
 */
export type Credential =
  | { readonly kind: 'api_key'; readonly sponsorId: string; readonly keyId: string }
  | {
      readonly kind: 'lead_token';
      readonly sponsorId: string;
      readonly offer: OfferRow;
      readonly messageId: string;
      readonly accountId: string;
      readonly recipientHash: string;
    };

export type CredentialResult = { readonly ok: true; readonly credential: Credential } | { readonly ok: false; readonly status: 401 | 403; readonly code: string };

const UNAUTHORIZED = { ok: false, status: 401, code: 'unauthorized' } as const;
// Compared against when no key row exists, so a miss costs what a hit costs.
const DUMMY_HASH = hashSponsorApiKey('pbsk_000000000000_dummy');

export async function resolveCredential(request: FastifyRequest, db: Database, leadTokens: LeadTokens, now: Date): Promise<CredentialResult> {
  const auth = request.headers.authorization;
  const token = request.headers['postbus-lead-token'];
  if (typeof auth === 'string' && auth.length < 300) {
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    const key = m?.[1];
    const prefix = key ? sponsorApiKeyPrefix(key) : undefined;
    if (!key || !prefix) return UNAUTHORIZED;
    const row = await findSponsorKey(db, prefix);
    const matches = sponsorApiKeyMatches(key, row?.keyHash ?? DUMMY_HASH);
    if (!row || !matches || row.revoked) return UNAUTHORIZED;
    await touchSponsorKey(db, row.id, now);
    return { ok: true, credential: { kind: 'api_key', sponsorId: row.sponsorId, keyId: row.id } };
  }
  if (typeof token === 'string') {
    const opened = leadTokens.open(token, Math.floor(now.getTime() / 1000));
    if (!opened.ok) return UNAUTHORIZED;
    const offer = await getOffer(db, opened.payload.offerId);
    if (!offer || !offer.active) return { ok: false, status: 403, code: 'offer_unavailable' };
    const { messageId, accountId, recipientHash } = opened.payload;
    return { ok: true, credential: { kind: 'lead_token', sponsorId: offer.sponsorId, offer, messageId, accountId, recipientHash } };
  }
  return UNAUTHORIZED;
}

/** The rate-limit key of a credential. */
export const credentialKey = (c: Credential) => (c.kind === 'api_key' ? `key:${c.keyId}` : `msg:${c.messageId}:${c.offer.id}`);
