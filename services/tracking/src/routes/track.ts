import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { TRACKING_SUBJECT_TOKEN } from '@postbus/contracts';
import type { HitRecorder, Hit } from '../adapters/hits.js';
import type { TrackingDeps } from '../deps.js';
import { clickedEvent, messageRef, openedEvent } from '../domain/events.js';
import { classifySource } from '../domain/user-agent.js';
import { sendNotFound, sendPixel } from '../http/responses.js';
import { TokenParams, openToken } from '../http/token-param.js';

export interface TrackRoutesOptions {
  readonly deps: TrackingDeps;
  readonly hits: HitRecorder;
  readonly clock: () => Date;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** An open or click to record once the answer has gone. */
    trackingHit: Hit | null;
  }
}

// What a Location header may carry: the token's URL is authenticated, this only re-checks its shape.
const REDIRECTABLE = /^https?:\/\/[\x21-\x7e]+$/i;

/**
 * Opens and clicks. Both answer at once and record afterwards (onResponse), so neither the
 * pixel nor the redirect ever waits for JetStream or fails because of it. HEAD requests
 * (fastify answers them with the GET handler) are answered alike and record nothing: a
 * person's mail client or browser sends GET.
 */
export const trackRoutes: FastifyPluginAsyncTypebox<TrackRoutesOptions> = async (app, { deps, hits, clock }) => {
  const { bus, tokens } = deps;
  app.decorateRequest('trackingHit', null);
  app.addHook('onResponse', async (request) => {
    if (request.trackingHit) hits.record(request.trackingHit);
  });

  app.get(
    '/open/:token',
    { schema: { summary: 'Open pixel', params: TokenParams('open') }, attachValidation: true },
    async (request, reply) => {
      const opened = openToken(tokens, 'open', request);
      const ref = opened.ok ? messageRef(opened.payload) : undefined;
      if (ref && request.method === 'GET') {
        const event = openedEvent(ref, classifySource(request.headers['user-agent']), clock());
        request.trackingHit = { subject: bus.subjects.tracking(ref.accountId, TRACKING_SUBJECT_TOKEN.EmailOpened), event };
      }
      return sendPixel(reply);
    },
  );

  app.get(
    '/click/:token',
    { schema: { summary: 'Tracked link: records the click, redirects to the URL in the token', params: TokenParams('click') }, attachValidation: true },
    async (request, reply) => {
      const opened = openToken(tokens, 'click', request);
      if (!opened.ok || !REDIRECTABLE.test(opened.payload.url)) return sendNotFound(reply);
      const { url } = opened.payload;
      // An authentic token whose ids do not fit the log still redirects: the URL was in the message.
      const ref = messageRef(opened.payload);
      if (ref && request.method === 'GET') {
        const event = clickedEvent(ref, url, classifySource(request.headers['user-agent']), clock());
        request.trackingHit = { subject: bus.subjects.tracking(ref.accountId, TRACKING_SUBJECT_TOKEN.LinkClicked), event };
      }
      return reply.code(302).header('location', url).header('cache-control', 'no-store, private').send();
    },
  );
};
