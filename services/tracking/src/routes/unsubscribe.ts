import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { addressHash } from '@postbus/contracts';
import { withDatabase } from '@postbus/db';
import { publishOutboxed, removeFromOutbox, writeUnsubscribe, type OutboxEvent } from '../adapters/outbox.js';
import { LIMITS, type TrackingDeps } from '../deps.js';
import { messageRef, suppressedEvent, unsubscribedEvent } from '../domain/events.js';
import { unsubscribeMethod } from '../domain/one-click.js';
import { confirmPage, unsubscribedPage } from '../domain/pages.js';
import { sendNotFound, sendPage } from '../http/responses.js';
import { TokenParams, openToken } from '../http/token-param.js';

export interface UnsubscribeRoutesOptions {
  readonly deps: TrackingDeps;
  readonly clock: () => Date;
}

// The media type part of a Content-Type fastify accepts; anything else it would refuse with 415.
const MEDIA_TYPE = /^\s*[\w!#$%&'*+.^`|~-]+\/[\w!#$%&'*+.^`|~-]+\s*(?:;|$)/;

function hashOf(address: string): string | undefined {
  try {
    return addressHash(address).toString('hex');
  } catch {
    return undefined;
  }
}

/**
 * GET shows a confirmation page and changes nothing (link scanners follow links); POST — RFC
 * 8058 one-click from a mail client, or the page's button — unsubscribes. Any POST with a
 * valid token counts, whatever its body or content type: the body only tells one-click from
 * the page. The order is the suppression row (with its events, in the outbox) → the events
 * appended → the answer, so a 200 means the next claim reads the row.
 */
export const unsubscribeRoutes: FastifyPluginAsyncTypebox<UnsubscribeRoutesOptions> = async (app, { deps, clock }) => {
  const { bus, db, tokens, log } = deps;
  const publishTimeoutMs = deps.publishTimeoutMs ?? LIMITS.publishTimeoutMs;

  // One parser for every content type (and none): read, capped, and kept only to look for
  // `List-Unsubscribe=One-Click`. A missing or odd body must not lose an unsubscribe.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: LIMITS.unsubscribeBodyBytes }, (_request, body, done) => done(null, body));

  app.get(
    '/:token',
    { schema: { summary: 'Unsubscribe confirmation page (changes nothing)', params: TokenParams('unsub') }, attachValidation: true },
    async (request, reply) => {
      const opened = openToken(tokens, 'unsub', request);
      if (!opened.ok) return sendNotFound(reply);
      return sendPage(reply, 200, confirmPage(opened.payload.address));
    },
  );

  app.post(
    '/:token',
    {
      schema: { summary: 'Unsubscribe (RFC 8058 one-click, or the page)', params: TokenParams('unsub') },
      attachValidation: true,
      onRequest: async (request, reply) => {
        // The token's length is checked before the body is read (the schema runs after parsing).
        if (request.params.token.length > LIMITS.tokenChars.unsub) return sendNotFound(reply);
        // A malformed Content-Type would be refused (415) before any parser runs: make it opaque bytes instead.
        const type = request.raw.headers['content-type'];
        if (type !== undefined && !MEDIA_TYPE.test(type)) request.raw.headers['content-type'] = 'application/octet-stream';
      },
    },
    async (request, reply) => {
      const opened = openToken(tokens, 'unsub', request);
      const hash = opened.ok ? hashOf(opened.payload.address) : undefined;
      if (!opened.ok || hash === undefined) return sendNotFound(reply);
      const { address, campaignId } = opened.payload;
      const ref = messageRef(opened.payload);
      const method = unsubscribeMethod(request.headers['content-type'], Buffer.isBuffer(request.body) ? request.body : undefined);
      const now = clock();

      let newSuppression = false;
      const events = await withDatabase(() =>
        writeUnsubscribe(db, address, (created): OutboxEvent[] => {
          newSuppression = created !== null;
          return [
            ...(created ? [suppressedEvent(created, ref, now)] : []),
            ...(ref ? [unsubscribedEvent(ref, hash, method, campaignId, now)] : []),
          ];
        }),
      );
      // The row is committed: from here on the answer is 200. A publish that fails stays in the outbox.
      const outcome = await publishOutboxed(bus, events, publishTimeoutMs);
      if (outcome.failed.length > 0) {
        log.warn({ failed: outcome.failed.length, code: outcome.failed[0]!.code }, 'unsubscribe recorded; its events wait in the outbox for the reconciler');
      }
      await removeFromOutbox(db, outcome.published).catch((err: unknown) => log.warn({ err }, 'outbox cleanup failed; the reconciler republishes (same ids)'));
      if (!ref) log.warn({ code: 'token_ids_invalid' }, 'unsubscribe token ids do not fit the log: suppressed without an Unsubscribed event');
      request.log.info({ method, newSuppression }, 'unsubscribed');
      return sendPage(reply, 200, unsubscribedPage());
    },
  );
};
