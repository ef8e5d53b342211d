import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { MessageId, PostbusError, ValidationError, derivedId, newId } from '@postbus/contracts';
import { claimIdempotencyKey, completeIdempotencyKey, releaseIdempotencyKey, withDatabase } from '@postbus/db';
import { readMessageStatus } from '../adapters/delivery-status.js';
import { publishAll } from '../adapters/log.js';
import { requestHash } from '../domain/canonical.js';
import { needsAccounts, prepareMessages, type MessageRequest } from '../domain/message-request.js';
import { LIMITS, type AdminDeps } from '../deps.js';
import { Problem, type SchemaIssue } from '../http/problem.js';
import { Accepted, IdParam, IdempotencyHeaders, MessageInput, MessageStatus, messageBatch } from '../http/schemas.js';

export interface MessageRoutesOptions {
  readonly deps: AdminDeps;
  readonly clock: () => Date;
}

const errors = { 400: Problem, 401: Problem, 404: Problem, 409: Problem, 413: Problem, 415: Problem, 422: Problem, 503: Problem };

/**
 * Ajv reports the errors of both shapes the body may take; keep those of the shape the
 * caller meant (a batch is the object with `messages`), so a typo in messages[3] is not
 * drowned in "must have required property 'to'".
 */
function focusOnIntendedShape(err: Error & { validation?: SchemaIssue[]; validationContext?: string }, body: unknown): Error {
  if (err.validationContext !== 'body' || !err.validation) return err;
  const batch = typeof body === 'object' && body !== null && !Array.isArray(body) && 'messages' in body;
  const mine = err.validation.filter((v) => v.schemaPath?.startsWith(`#/anyOf/${batch ? 1 : 0}/`));
  if (mine.length > 0) err.validation = mine;
  return err;
}

/**
 * POST a message or a batch: every message is checked before any is published (all or
 * nothing), then each becomes an `EmailRequested` in REQUESTS; 202 only once JetStream has
 * acknowledged all of them. With an Idempotency-Key the ids derive from the key, so a
 * retried request publishes the same events again and JetStream drops the duplicates.
 */
export const messageRoutes: FastifyPluginAsyncTypebox<MessageRoutesOptions> = async (app, { deps, clock }) => {
  const { bus, db, directory } = deps;
  const maxBatch = deps.maxBatch ?? LIMITS.maxBatch;
  const Body = Type.Union([MessageInput, messageBatch(maxBatch)]);

  async function accept(messages: readonly MessageRequest[], single: boolean, principal: string, key: string | undefined, now: Date): Promise<Accepted> {
    if (needsAccounts(messages)) await directory.sync();
    const prepared = prepareMessages(messages, directory, {
      principal,
      now,
      maxContentBytes: LIMITS.messageContentBytes,
      messageId: (index) => (key === undefined ? newId('msg') : derivedId('msg', principal, key, String(index))),
    });
    if (!prepared.ok) {
      const first = prepared.problems[0]!;
      const list = prepared.problems.map(({ index, code, field, detail }) => ({ index, code, field, detail }));
      throw new PostbusError(first.code, first.detail, { status: first.status, detail: { errors: list } });
    }
    const items = prepared.requests.map((r) => ({ subject: bus.subjects.request(r.messageId), event: r.event }));
    await publishAll(bus, items, deps.publishTimeoutMs);
    const accepted = prepared.requests.map((r) => ({ id: r.messageId, status: 'accepted' as const }));
    return single ? { id: accepted[0]!.id, messages: accepted } : { messages: accepted };
  }

  app.post(
    '/',
    {
      attachValidation: true,
      schema: {
        tags: ['messages'],
        summary: 'Request one message or a batch',
        description: `One message object, or { messages: [...] } with 1 to ${maxBatch} messages.`,
        headers: IdempotencyHeaders,
        body: Body,
        response: { 202: Accepted, ...errors },
      },
    },
    async (request, reply) => {
      if (request.validationError) throw focusOnIntendedShape(request.validationError, request.body);
      const body = request.body;
      const single = !('messages' in body);
      const messages: readonly MessageRequest[] = 'messages' in body ? body.messages : [body];
      const key = request.headers['idempotency-key'];
      const principal = request.principal;
      const now = clock();
      if (key === undefined) return reply.code(202).send(await accept(messages, single, principal, undefined, now));

      const claim = await withDatabase(() => claimIdempotencyKey(db, principal, key, requestHash(body), now));
      if (claim.kind === 'replay') {
        return reply.code(claim.statusCode).header('idempotent-replayed', 'true').send(claim.response as Accepted);
      }
      if (claim.kind === 'conflict') throw new ValidationError('idempotency_key_reused', 'this Idempotency-Key was used with a different body');
      if (claim.kind === 'in_progress') {
        throw new PostbusError('idempotency_in_progress', 'a request with this Idempotency-Key is still in progress', { status: 409, retryable: true });
      }
      let response: Accepted;
      try {
        response = await accept(messages, single, principal, key, now);
      } catch (err) {
        // Nothing was accepted: free the key so that a retry can use it.
        await withDatabase(() => releaseIdempotencyKey(db, principal, key)).catch((e: unknown) =>
          request.log.warn({ err: e }, 'could not release an idempotency key; it is taken over once stale'),
        );
        throw err;
      }
      // The log has the messages: answer 202 even if the key cannot be completed (a retry
      // then finds it pending, and later takes it over and republishes the same ids).
      await withDatabase(() => completeIdempotencyKey(db, principal, key, 202, response)).catch((e: unknown) =>
        request.log.warn({ err: e }, 'could not complete an idempotency key'),
      );
      return reply.code(202).send(response);
    },
  );

  app.get(
    '/:id',
    {
      schema: { tags: ['messages'], summary: 'One message: ledger state and timeline', params: IdParam(MessageId), response: { 200: MessageStatus, ...errors } },
    },
    async (request) => {
      const status = await readMessageStatus(db, request.params.id);
      if (!status) throw new PostbusError('message_not_found', 'no such message', { status: 404 });
      return status;
    },
  );
};
