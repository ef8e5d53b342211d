import type { FastifyInstance } from 'fastify';
import { containsUnstorableText } from '../domain/storable-text.js';
import { problem, sendProblem } from './problem.js';

/**
 * Bodies checked message by message by their own handler, which names the message and the
 * field (`header_injection` or `invalid_message`, with an index): the guard leaves those bodies to it.
 */
const OWN_TEXT_CHECKS = new Set(['POST /v1/messages', 'POST /v1/messages/']);

/**
 * Text the database cannot hold (domain/storable-text.ts) anywhere in a request — path, query
 * or JSON body — is refused with 400 before any handler runs. Found by the fuzz run: a NUL in
 * `?after=` or a login name, and a lone surrogate in a campaign, reached a query and answered 500.
 */
export function registerTextGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (request, reply) => {
    const ownChecks = OWN_TEXT_CHECKS.has(`${request.method} ${request.routeOptions.url ?? ''}`);
    if (containsUnstorableText(request.params) || containsUnstorableText(request.query) || (!ownChecks && containsUnstorableText(request.body))) {
      return sendProblem(reply, problem(400, 'invalid_request', 'text may not contain NUL (U+0000) or an unpaired surrogate'));
    }
    return undefined;
  });
}
