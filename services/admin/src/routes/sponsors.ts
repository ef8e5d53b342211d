import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { publishEvent } from '@postbus/bus';
import {
  PostbusError,
  checkEndpointUrl,
  newId,
  newSigningSecret,
  newSponsorApiKey,
  newSponsorScopedId,
  sponsorEventId,
  type SponsorEvent,
} from '@postbus/contracts';
import { putSecret, sql, withDatabase, type Queryable, type SQLQuery } from '@postbus/db';
import type { AdminDeps } from '../deps.js';
import { Problem } from '../http/problem.js';
import {
  CreateKey,
  CreateOffer,
  CreateSponsor,
  CreatedKey,
  KeyList,
  KeyParams,
  KeyView,
  OfferList,
  OfferParams,
  OfferView,
  PageQuery,
  SponsorList,
  SponsorParams,
  SponsorView,
  SponsorWithSecret,
  UpdateOffer,
  UpdateSponsor,
} from '../http/sponsor-schemas.js';

export interface SponsorRoutesOptions {
  readonly deps: AdminDeps;
  readonly clock: () => Date;
  /** Tests only: forwarding endpoints may be http and private addresses (POSTBUS_SPONSOR_ALLOW_PRIVATE_ENDPOINTS). */
  readonly allowPrivateEndpoints?: boolean;
}

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 415: Problem, 503: Problem };
const ADMIN_ONLY = { roles: ['admin'] as const };
const SECRET_KIND = 'sponsor_signing';

// ── Keyset pagination over (created_at, id), newest first; the cursor is opaque to callers.
const EXACT = sql`to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS exact`;
const CURSOR = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|([a-z]{3}_[0-9A-Z]{26})$/;
const cursorOf = (r: Record<string, unknown>) => Buffer.from(`${String(r['exact'])}|${String(r['id'])}`).toString('base64url');

async function page(db: Queryable, from: SQLQuery, where: SQLQuery, query: PageQuery): Promise<{ rows: Array<Record<string, unknown>>; next: string | null }> {
  const limit = Number(query.limit ?? 50);
  let after = sql`TRUE`;
  if (query.after !== undefined) {
    const m = CURSOR.exec(Buffer.from(query.after, 'base64url').toString('utf8'));
    if (!m) throw new PostbusError('invalid_cursor', 'after: not a cursor this API returned', { status: 400 });
    after = sql`(created_at, id) < (${m[1]!}::timestamptz, ${m[2]!})`;
  }
  const rows = await db.query(sql`SELECT *, ${EXACT} FROM ${from} WHERE ${where} AND ${after} ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`);
  const shown = rows.slice(0, limit);
  return { rows: shown, next: rows.length > limit ? cursorOf(shown[shown.length - 1]) : null };
}

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : null);
const sponsorView = (r: Record<string, unknown>): SponsorView => ({
  id: r['id'] as string,
  name: r['name'] as string,
  endpointUrl: (r['endpoint_url'] as string | null) ?? null,
  createdAt: iso(r['created_at'])!,
  updatedAt: iso(r['updated_at'])!,
});
const offerView = (r: Record<string, unknown>): OfferView => ({
  id: r['id'] as string,
  sponsorId: r['sponsor_id'] as string,
  name: r['name'] as string,
  landingUrl: r['landing_url'] as string,
  active: r['active'] as boolean,
  createdAt: iso(r['created_at'])!,
  updatedAt: iso(r['updated_at'])!,
});
/** Never the hash: a key's prefix and dates only. */
const keyView = (r: Record<string, unknown>): KeyView => ({
  id: r['id'] as string,
  sponsorId: r['sponsor_id'] as string,
  prefix: r['prefix'] as string,
  label: (r['label'] as string | null) ?? null,
  createdAt: iso(r['created_at'])!,
  lastUsedAt: iso(r['last_used_at']),
  revokedAt: iso(r['revoked_at']),
});

const notFound = (what: string) => new PostbusError(`${what}_not_found`, `no such ${what}`, { status: 404 });

/**
 * Sponsors, their offers and API keys. Every change is written and its event appended to
 * `sponsor.<id>` inside one transaction that commits only after JetStream's acknowledgement
 * (as the suppression routes do): a NATS outage answers 503 and leaves nothing behind. The
 * signing secret and API keys appear once, in the answer that made them; they are never in
 * an event, a log line or a later answer (keys are stored as SHA-256 hashes, the secret
 * encrypted in `secrets`).
 */
export const sponsorRoutes: FastifyPluginAsyncTypebox<SponsorRoutesOptions> = async (app, { deps, clock, allowPrivateEndpoints = false }) => {
  const { bus, db, cipher } = deps;
  const publishOpts = deps.publishTimeoutMs ? { timeoutMs: deps.publishTimeoutMs } : {};
  const emit = (sponsorId: string, event: SponsorEvent) => publishEvent(bus, bus.subjects.sponsor(sponsorId), event, publishOpts);
  const endpoint = (url: string | null | undefined): string | null | undefined => {
    if (url === undefined || url === null) return url;
    const verdict = checkEndpointUrl(url, allowPrivateEndpoints);
    if (!verdict.ok) throw new PostbusError('endpoint_refused', `endpointUrl: ${verdict.reason}`, { status: 400 });
    return url;
  };
  const landing = (url: string): string => {
    if (!/^https:\/\//i.test(url) && !allowPrivateEndpoints) throw new PostbusError('landing_url_refused', 'landingUrl: must be https', { status: 400 });
    return url;
  };
  const requireSponsor = async (tx: Queryable, id: string, lock = false) => {
    const [row] = await tx.query(lock ? sql`SELECT * FROM sponsors WHERE id = ${id} FOR UPDATE` : sql`SELECT * FROM sponsors WHERE id = ${id}`);
    if (!row) throw notFound('sponsor');
    return row;
  };

  app.get('/sponsors', { schema: { tags: ['sponsors'], summary: 'Sponsors, newest first', querystring: PageQuery, response: { 200: SponsorList, ...errors } } }, async (request) => {
    const { rows, next } = await withDatabase(() => page(db, sql`sponsors`, sql`TRUE`, request.query));
    return { sponsors: rows.map(sponsorView), next };
  });

  app.get('/sponsors/:id', { schema: { tags: ['sponsors'], summary: 'One sponsor', params: SponsorParams, response: { 200: SponsorView, ...errors } } }, async (request) =>
    sponsorView(await withDatabase(() => requireSponsor(db, request.params.id))),
  );

  app.post(
    '/sponsors',
    { config: ADMIN_ONLY, schema: { tags: ['sponsors'], summary: 'Create a sponsor; its signing secret is shown once', body: CreateSponsor, response: { 201: SponsorWithSecret, ...errors } } },
    async (request, reply) => {
      const endpointUrl = endpoint(request.body.endpointUrl) ?? null;
      const now = clock();
      const id = newSponsorScopedId('spn', now.getTime());
      const secretId = newId('sec', now.getTime());
      const signingSecret = newSigningSecret();
      const row = await withDatabase(() =>
        db.tx(async (tx) => {
          await putSecret(tx, cipher, secretId, SECRET_KIND, signingSecret);
          const [r] = await tx.query(sql`
            INSERT INTO sponsors (id, name, endpoint_url, signing_secret_id, created_at, updated_at)
            VALUES (${id}, ${request.body.name}, ${endpointUrl}, ${secretId}, ${now}, ${now}) RETURNING *`);
          await emit(id, { id: sponsorEventId('SponsorCreated', id), type: 'SponsorCreated', version: 1, occurredAt: now.toISOString(), data: { sponsorId: id, name: request.body.name, endpointUrl, actor: request.principal } });
          return r!;
        }),
      );
      request.log.info({ sponsorId: id, actor: request.principal }, 'sponsor created');
      return reply.code(201).send({ sponsor: sponsorView(row), signingSecret });
    },
  );

  app.patch(
    '/sponsors/:id',
    { schema: { tags: ['sponsors'], summary: 'Rename a sponsor or change its forwarding endpoint', params: SponsorParams, body: UpdateSponsor, response: { 200: SponsorView, ...errors } } },
    async (request) => {
      const { name } = request.body;
      const endpointUrl = endpoint(request.body.endpointUrl);
      const now = clock();
      const row = await withDatabase(() =>
        db.tx(async (tx) => {
          await requireSponsor(tx, request.params.id, true);
          const [r] = await tx.query(sql`
            UPDATE sponsors SET name = COALESCE(${name ?? null}, name),
              endpoint_url = CASE WHEN ${endpointUrl !== undefined} THEN ${endpointUrl ?? null} ELSE endpoint_url END,
              updated_at = ${now}
            WHERE id = ${request.params.id} RETURNING *`);
          await emit(request.params.id, {
            id: sponsorEventId('SponsorUpdated', request.params.id, now.getTime()),
            type: 'SponsorUpdated',
            version: 1,
            occurredAt: now.toISOString(),
            data: { sponsorId: request.params.id, ...(name !== undefined ? { name } : {}), ...(endpointUrl !== undefined ? { endpointUrl } : {}), actor: request.principal },
          });
          return r!;
        }),
      );
      request.log.info({ sponsorId: request.params.id, actor: request.principal }, 'sponsor updated');
      return sponsorView(row);
    },
  );

  app.post(
    '/sponsors/:id/secret',
    { config: ADMIN_ONLY, schema: { tags: ['sponsors'], summary: 'Replace the signing secret; the new one is shown once', params: SponsorParams, response: { 200: SponsorWithSecret, ...errors } } },
    async (request) => {
      const now = clock();
      const signingSecret = newSigningSecret();
      const row = await withDatabase(() =>
        db.tx(async (tx) => {
          const s = await requireSponsor(tx, request.params.id, true);
          await putSecret(tx, cipher, s['signing_secret_id'] as string, SECRET_KIND, signingSecret);
          const [r] = await tx.query(sql`UPDATE sponsors SET updated_at = ${now} WHERE id = ${request.params.id} RETURNING *`);
          await emit(request.params.id, {
            id: sponsorEventId('SponsorUpdated', request.params.id, now.getTime(), 'secret'),
            type: 'SponsorUpdated',
            version: 1,
            occurredAt: now.toISOString(),
            data: { sponsorId: request.params.id, secretRotated: true, actor: request.principal },
          });
          return r!;
        }),
      );
      request.log.info({ sponsorId: request.params.id, actor: request.principal }, 'sponsor signing secret replaced');
      return { sponsor: sponsorView(row), signingSecret };
    },
  );

  app.get(
    '/sponsors/:id/offers',
    { schema: { tags: ['sponsors'], summary: 'A sponsor’s offers, newest first', params: SponsorParams, querystring: PageQuery, response: { 200: OfferList, ...errors } } },
    async (request) => {
      const { rows, next } = await withDatabase(async () => {
        await requireSponsor(db, request.params.id);
        return page(db, sql`sponsor_offers`, sql`sponsor_id = ${request.params.id}`, request.query);
      });
      return { offers: rows.map(offerView), next };
    },
  );

  app.post(
    '/sponsors/:id/offers',
    { schema: { tags: ['sponsors'], summary: 'Create an offer', params: SponsorParams, body: CreateOffer, response: { 201: OfferView, ...errors } } },
    async (request, reply) => {
      const { name, active = true } = request.body;
      const landingUrl = landing(request.body.landingUrl);
      const now = clock();
      const id = newSponsorScopedId('off', now.getTime());
      const sponsorId = request.params.id;
      const row = await withDatabase(() =>
        db.tx(async (tx) => {
          await requireSponsor(tx, sponsorId, true);
          const [r] = await tx.query(sql`
            INSERT INTO sponsor_offers (id, sponsor_id, name, landing_url, active, created_at, updated_at)
            VALUES (${id}, ${sponsorId}, ${name}, ${landingUrl}, ${active}, ${now}, ${now}) RETURNING *`);
          await emit(sponsorId, { id: sponsorEventId('OfferCreated', id), type: 'OfferCreated', version: 1, occurredAt: now.toISOString(), data: { sponsorId, offerId: id, name, landingUrl, active, actor: request.principal } });
          return r!;
        }),
      );
      return reply.code(201).send(offerView(row));
    },
  );

  app.patch(
    '/offers/:id',
    { schema: { tags: ['sponsors'], summary: 'Activate or deactivate an offer, or change its landing URL', params: OfferParams, body: UpdateOffer, response: { 200: OfferView, ...errors } } },
    async (request) => {
      const { name, active } = request.body;
      const landingUrl = request.body.landingUrl === undefined ? undefined : landing(request.body.landingUrl);
      const now = clock();
      const row = await withDatabase(() =>
        db.tx(async (tx) => {
          const [r] = await tx.query(sql`
            UPDATE sponsor_offers SET name = COALESCE(${name ?? null}, name), landing_url = COALESCE(${landingUrl ?? null}, landing_url),
              active = COALESCE(${active ?? null}::boolean, active), updated_at = ${now}
            WHERE id = ${request.params.id} RETURNING *`);
          if (!r) throw notFound('offer');
          const sponsorId = r['sponsor_id'] as string;
          await emit(sponsorId, {
            id: sponsorEventId('OfferUpdated', request.params.id, now.getTime()),
            type: 'OfferUpdated',
            version: 1,
            occurredAt: now.toISOString(),
            data: { sponsorId, offerId: request.params.id, ...(name !== undefined ? { name } : {}), ...(landingUrl !== undefined ? { landingUrl } : {}), ...(active !== undefined ? { active } : {}), actor: request.principal },
          });
          return r;
        }),
      );
      return offerView(row);
    },
  );

  app.get(
    '/sponsors/:id/keys',
    { schema: { tags: ['sponsors'], summary: 'A sponsor’s API keys: prefixes and dates, never the keys', params: SponsorParams, querystring: PageQuery, response: { 200: KeyList, ...errors } } },
    async (request) => {
      const { rows, next } = await withDatabase(async () => {
        await requireSponsor(db, request.params.id);
        return page(db, sql`sponsor_api_keys`, sql`sponsor_id = ${request.params.id}`, request.query);
      });
      return { keys: rows.map(keyView), next };
    },
  );

  app.post(
    '/sponsors/:id/keys',
    { config: ADMIN_ONLY, schema: { tags: ['sponsors'], summary: 'Make an API key; it is shown once', params: SponsorParams, body: CreateKey, response: { 201: CreatedKey, ...errors } } },
    async (request, reply) => {
      const now = clock();
      const sponsorId = request.params.id;
      const id = newSponsorScopedId('spk', now.getTime());
      const made = newSponsorApiKey();
      const row = await withDatabase(() =>
        db.tx(async (tx) => {
          await requireSponsor(tx, sponsorId, true);
          const [r] = await tx.query(sql`
            INSERT INTO sponsor_api_keys (id, sponsor_id, prefix, key_hash, label, created_at)
            VALUES (${id}, ${sponsorId}, ${made.prefix}, ${made.hash}, ${request.body.label ?? null}, ${now}) RETURNING *`);
          await emit(sponsorId, { id: sponsorEventId('SponsorKeyCreated', id), type: 'SponsorKeyCreated', version: 1, occurredAt: now.toISOString(), data: { sponsorId, keyId: id, prefix: made.prefix, actor: request.principal } });
          return r!;
        }),
      );
      request.log.info({ sponsorId, keyId: id, prefix: made.prefix, actor: request.principal }, 'sponsor API key made');
      return reply.code(201).send({ key: keyView(row), apiKey: made.key });
    },
  );

  app.delete(
    '/sponsors/:id/keys/:keyId',
    { config: ADMIN_ONLY, schema: { tags: ['sponsors'], summary: 'Revoke an API key (at once, for good)', params: KeyParams, response: { 200: KeyView, ...errors } } },
    async (request) => {
      const { id: sponsorId, keyId } = request.params;
      const now = clock();
      const row = await withDatabase(() =>
        db.tx(async (tx) => {
          const [found] = await tx.query(sql`SELECT * FROM sponsor_api_keys WHERE id = ${keyId} AND sponsor_id = ${sponsorId} FOR UPDATE`);
          if (!found) throw notFound('key');
          if (found['revoked_at'] !== null) return found;
          const [r] = await tx.query(sql`UPDATE sponsor_api_keys SET revoked_at = ${now} WHERE id = ${keyId} RETURNING *`);
          await emit(sponsorId, { id: sponsorEventId('SponsorKeyRevoked', keyId), type: 'SponsorKeyRevoked', version: 1, occurredAt: now.toISOString(), data: { sponsorId, keyId, actor: request.principal } });
          return r!;
        }),
      );
      request.log.info({ sponsorId, keyId, actor: request.principal }, 'sponsor API key revoked');
      return keyView(row);
    },
  );
};
