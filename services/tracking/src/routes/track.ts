import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { performance } from 'node:perf_hooks';
import type { LinkClicked, RateLimiter } from '@postbus/contracts';
import { metrics } from '@postbus/telemetry';
import type { ClickOutbox } from '../adapters/clicks.js';
import type { Opens } from '../adapters/opens.js';
import { recipientHashOf } from '../adapters/recipients.js';
import { LIMITS, type TrackingDeps } from '../deps.js';
import { clickedEvent, messageRef } from '../domain/events.js';
import { offerLinkOf, offerRedirect } from '../domain/offer-link.js';
import { errorPage } from '../domain/pages.js';
import { ClickJudge } from '../domain/scanner.js';
import { classifySource } from '../domain/user-agent.js';
import { sendNotFound, sendPage, sendPixel } from '../http/responses.js';
import { TokenParams, openToken } from '../http/token-param.js';

export interface TrackRoutesOptions {
  readonly deps: TrackingDeps;
  readonly opens: Opens;
  readonly clicks: ClickOutbox;
  /** Per client IP; this plugin's routes only (the unsubscribe plugin has none). */
  readonly limiter: RateLimiter;
  readonly clock: () => Date;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** A click already in the outbox, to publish once the answer has gone. */
    trackingClick: LinkClicked | null;
  }
}

// What a Location header may carry: the token's URL is authenticated, this only re-checks its shape.
const REDIRECTABLE = /^https?:\/\/[\x21-\x7e]+$/i;

/**
 * Opens and clicks. Neither the pixel nor the redirect waits for JetStream or fails because
 * of it: an open is buffered after the answer and published in a batch (adapters/hits.ts); a
 * click is written into the outbox before its redirect and published after it
 * (adapters/clicks.ts). HEAD requests (fastify answers them with the GET handler) are answered
 * alike and record nothing: a person's mail client or browser sends GET.
 *
 * Each client IP is rate limited (a token bucket); over the limit the answer is 429 with
 * Retry-After and nothing is recorded. The IP is the socket's (trustProxy is off) and is never
 * logged.
 */
export const trackRoutes: FastifyPluginAsyncTypebox<TrackRoutesOptions> = async (app, { deps, opens, clicks, limiter, clock }) => {
  const { tokens } = deps;
  const judge = new ClickJudge();
  /** A lead token for this click's recipient and offer, or undefined (no keys, or the recipient unknown). */
  const leadTokenFor = async (ref: { messageId: string; accountId: string }, offerId: string): Promise<string | undefined> => {
    if (!deps.leadTokens) return undefined;
    const recipientHash = await recipientHashOf(deps.db, ref.messageId, LIMITS.recipientLookupTimeoutMs);
    if (recipientHash === undefined) return undefined;
    const expiresAt = Math.floor(clock().getTime() / 1000) + (deps.leadTokenTtlSeconds ?? LIMITS.leadTokenTtlSeconds);
    return deps.leadTokens.issue({ messageId: ref.messageId, accountId: ref.accountId, offerId, recipientHash, expiresAt });
  };
  app.decorateRequest('trackingClick', null);
  // Callback hooks (no promise per request): they run on every pixel.
  app.addHook('onRequest', (request, reply, done) => {
    const admission = limiter.take(request.ip, performance.now());
    if (admission.ok) {
      done();
      return;
    }
    reply.header('retry-after', String(admission.retryAfterSeconds));
    // Answered here: done() is not called, so the route does not run.
    void sendPage(reply, 429, errorPage(429));
  });
  // The click's publish, once its redirect has gone (a route hook: an onResponse hook costs
  // every route it covers a set of response listeners, and the pixel needs none).
  const publishClick = (request: FastifyRequest, _reply: FastifyReply, done: () => void) => {
    if (request.trackingClick) clicks.publish(request.trackingClick);
    done();
  };

  // What the fast path in front of fastify (http/pixel-fast-path.ts) leaves here — injected
  // requests, odd tokens — answered alike and kept lean: no schema (the keyring checks the
  // token's length and alphabet before it decrypts, and a bad token gets the same pixel), a
  // plain handler, and a GET's open handed over right after the answer is written.
  app.get('/open/:token', (request, reply) => {
    const { token } = request.params as { token?: unknown };
    sendPixel(reply);
    if (request.method === 'GET' && typeof token === 'string') opens.record(token, request.headers['user-agent'], clock().getTime());
  });

  app.get(
    '/click/:token',
    { schema: { summary: 'Tracked link: records the click, redirects to the URL in the token', params: TokenParams('click') }, attachValidation: true, onResponse: publishClick },
    async (request, reply) => {
      const opened = openToken(tokens, 'click', request);
      if (!opened.ok || !REDIRECTABLE.test(opened.payload.url)) return sendNotFound(reply);
      const { url } = opened.payload;
      // An authentic token whose ids do not fit the log still redirects: the URL was in the message.
      const ref = messageRef(opened.payload);
      if (ref && request.method === 'GET') {
        const now = clock();
        const source = judge.judge({ messageId: ref.messageId, url, issuedAtSeconds: opened.payload.issuedAt, byUserAgent: classifySource(request.headers['user-agent']), nowMs: now.getTime() });
        const event = clickedEvent(ref, url, source, now);
        metrics.trackingHit('click', source).inc();
        // Durable before the redirect; when the outbox is away the person is redirected all the same.
        if (await clicks.write(event)) request.trackingClick = event;
      }
      const offer = offerLinkOf(url);
      const target = offer ? offerRedirect(offer, ref && request.method === 'GET' ? await leadTokenFor(ref, offer.offerId) : undefined) : url;
      return reply.code(302).header('location', target).header('cache-control', 'no-store, private').send();
    },
  );
};
