import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { performance } from 'node:perf_hooks';
import { Type } from '@sinclair/typebox';
import { publishEvent } from '@postbus/bus';
import { AddressError, addressHash, newSponsorScopedId, parseAddress, sponsorEventId, type LeadReceived } from '@postbus/contracts';
import { activeOffers, getOffer, insertLead, leadPayloadAad, withDatabase, type OfferRow } from '@postbus/db';
import { LIMITS, type GatewayDeps } from '../deps.js';
import { LeadBody, leadRequestHash, type ForwardedLead } from '../domain/lead.js';
import type { RateLimiter } from '@postbus/contracts';
import { credentialKey, resolveCredential, type Credential } from '../http/credential.js';
import { sendProblem } from '../http/responses.js';

export interface SponsorRoutesOptions {
  readonly deps: GatewayDeps;
  readonly perCredential: RateLimiter;
  readonly clock: () => Date;
}

declare module 'fastify' {
  interface FastifyRequest {
    sponsorCredential: Credential | null;
  }
}

const Problem = Type.Object({ type: Type.String(), title: Type.String(), status: Type.Integer(), code: Type.String() });
const errors = { 400: Problem, 401: Problem, 403: Problem, 409: Problem, 413: Problem, 415: Problem, 422: Problem, 429: Problem, 503: Problem };
const OfferView = Type.Object({ id: Type.String(), name: Type.String(), landingUrl: Type.String() });
const OfferList = Type.Object({ offers: Type.Array(OfferView) });
const LeadAccepted = Type.Object({ leadId: Type.String(), status: Type.Literal('accepted'), replayed: Type.Boolean() });
const LeadHeaders = Type.Object({ 'idempotency-key': Type.Optional(Type.String({ pattern: LIMITS.idempotencyKeyPattern })) });

const view = (o: OfferRow) => ({ id: o.id, name: o.name, landingUrl: o.landingUrl });

/**
 * The gateway's only routes. Every request names a credential (resolved in a preHandler,
 * 401/403 otherwise) and is rate limited per credential after the per-IP limit in app.ts.
 */
export const sponsorRoutes: FastifyPluginAsyncTypebox<SponsorRoutesOptions> = async (app, { deps, perCredential, clock }) => {
  const { bus, db, cipher, leadTokens } = deps;
  app.decorateRequest('sponsorCredential', null);
  app.addHook('preHandler', async (request, reply) => {
    const resolved = await withDatabase(() => resolveCredential(request, db, leadTokens, clock()));
    if (!resolved.ok) return sendProblem(reply, resolved.status, resolved.code, resolved.status === 401 ? 'a valid API key or lead token is required' : 'not allowed');
    const admission = perCredential.take(credentialKey(resolved.credential), performance.now());
    if (!admission.ok) {
      reply.header('retry-after', String(admission.retryAfterSeconds));
      return sendProblem(reply, 429, 'rate_limited', 'too many requests');
    }
    request.sponsorCredential = resolved.credential;
  });

  app.get('/offers', { schema: { summary: 'Active offers of the caller’s sponsor (or the lead token’s one offer)', response: { 200: OfferList, ...errors } } }, async (request) => {
    const c = request.sponsorCredential!;
    if (c.kind === 'lead_token') return { offers: [view(c.offer)] };
    return { offers: (await withDatabase(() => activeOffers(db, c.sponsorId))).map(view) };
  });

  app.post(
    '/leads',
    { bodyLimit: LIMITS.bodyBytes, schema: { summary: 'Submit a lead (idempotent by Idempotency-Key)', headers: LeadHeaders, body: LeadBody, response: { 200: LeadAccepted, 202: LeadAccepted, ...errors } } },
    async (request, reply) => {
      const c = request.sponsorCredential!;
      const body = request.body;
      let address: string;
      let hashHex: string;
      try {
        address = parseAddress(body.email).address;
        hashHex = addressHash(body.email).toString('hex');
      } catch (err) {
        if (err instanceof AddressError) return sendProblem(reply, 422, 'invalid_address', `email: ${err.message}`);
        throw err;
      }
      // The offer: the token's own, or one of the key's sponsor's (another sponsor's looks the same as none).
      let offer: OfferRow;
      if (c.kind === 'lead_token') {
        if (body.offerId !== undefined && body.offerId !== c.offer.id) return sendProblem(reply, 403, 'offer_forbidden', 'the lead token is for another offer');
        if (hashHex !== c.recipientHash) return sendProblem(reply, 403, 'recipient_mismatch', 'the lead token is for another recipient');
        offer = c.offer;
      } else {
        if (body.offerId === undefined) return sendProblem(reply, 400, 'offer_required', 'offerId is required with an API key');
        const found = await withDatabase(() => getOffer(db, body.offerId!));
        if (!found || found.sponsorId !== c.sponsorId) return sendProblem(reply, 403, 'offer_forbidden', 'no such offer for this key');
        if (!found.active) return sendProblem(reply, 403, 'offer_unavailable', 'the offer is not active');
        offer = found;
      }
      const requestHash = leadRequestHash(offer.id, address, body);
      // A lead token brings one lead per recipient and offer, whatever key it sends; an API key is idempotent by its key.
      const scope = c.kind === 'lead_token' ? `token:${c.messageId}:${offer.id}` : `sponsor:${c.sponsorId}`;
      const idempotencyKey = c.kind === 'lead_token' ? 'lead' : (request.headers['idempotency-key'] ?? `body:${requestHash}`);
      const now = clock();
      const leadId = newSponsorScopedId('led', now.getTime());
      const forwarded: ForwardedLead = {
        id: leadId,
        sponsorId: offer.sponsorId,
        offerId: offer.id,
        email: address,
        name: body.name ?? null,
        consent: { text: body.consent.text, time: body.consent.time, source: body.consent.source },
        receivedAt: now.toISOString(),
      };
      const event: LeadReceived = {
        id: sponsorEventId('LeadReceived', leadId),
        type: 'LeadReceived',
        version: 1,
        occurredAt: now.toISOString(),
        ...(c.kind === 'lead_token' ? { accountId: c.accountId, messageId: c.messageId } : {}),
        data: {
          sponsorId: offer.sponsorId,
          offerId: offer.id,
          leadId,
          addressHash: hashHex,
          via: c.kind,
          ...(c.kind === 'api_key' ? { keyId: c.keyId } : {}),
          consentSource: body.consent.source,
        },
      };
      // Row and event together: the commit waits for JetStream's acknowledgement, so a NATS outage answers 503 and stores nothing.
      const result = await withDatabase(() =>
        db.tx(async (tx) => {
          const inserted = await insertLead(tx, {
            id: leadId,
            sponsorId: offer.sponsorId,
            offerId: offer.id,
            scope,
            idempotencyKey,
            requestHash,
            payload: cipher.encrypt(JSON.stringify(forwarded), leadPayloadAad(leadId)),
            receivedAt: now,
          });
          if (inserted.kind === 'new') await publishEvent(bus, bus.subjects.sponsor(offer.sponsorId), event, { timeoutMs: deps.publishTimeoutMs ?? LIMITS.publishTimeoutMs });
          return inserted;
        }),
      );
      if (result.kind === 'conflict') return sendProblem(reply, 409, 'idempotency_conflict', 'this idempotency key (or lead token) was used for another lead');
      if (result.kind === 'replay') return reply.code(200).send({ leadId: result.id, status: 'accepted' as const, replayed: true });
      request.log.info({ leadId, sponsorId: offer.sponsorId, offerId: offer.id, via: c.kind }, 'lead accepted');
      return reply.code(202).send({ leadId, status: 'accepted' as const, replayed: false });
    },
  );
};
