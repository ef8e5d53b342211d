import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { publishEvent, type Bus } from '@postbus/bus';
import {
  AddressError,
  PostbusError,
  addressHash,
  derivedId,
  normaliseAddress,
  suppressionEventId,
  suppressionShard,
  type AddressSuppressed,
  type SuppressionRemoved,
} from '@postbus/contracts';
import { sql, withDatabase, type Queryable } from '@postbus/db';
import { LIMITS, type AdminDeps } from '../deps.js';
import { Problem } from '../http/problem.js';
import {
  AddSuppression,
  AddedSuppression,
  AddressHashParam,
  ImportResult,
  ImportSuppressions,
  RemoveSuppression,
  RemovedSuppression,
  SuppressionList,
  SuppressionQuery,
  type SuppressionView,
} from '../http/schemas.js';
import { decodeCursor, encodeCursor } from '../http/cursor.js';

export interface SuppressionRoutesOptions {
  readonly deps: AdminDeps;
  readonly clock: () => Date;
}

const errors = { 400: Problem, 401: Problem, 404: Problem, 409: Problem, 413: Problem, 415: Problem, 503: Problem };
const SOURCE = 'admin';
const DEFAULT_REASON = 'admin';
/** Events go out in slices: a 10,000-address import must not hold 10,000 publishes in flight. */
const PUBLISH_SLICE = 500;

/** A suppression row as read back, with created_at exact to the microsecond (the row's identity). */
interface Row {
  readonly hash: string;
  readonly address: string | null;
  readonly reason: string;
  readonly source: string;
  readonly micros: number;
  /** created_at as `YYYY-MM-DDTHH:MM:SS.ffffffZ`: exact, for the cursor. */
  readonly exact: string;
}

const COLUMNS = sql`
  encode(address_hash, 'hex') AS hash, address, reason, source,
  (extract(epoch FROM created_at) * 1000000)::bigint AS micros,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS exact`;

const toRow = (r: Record<string, unknown>): Row => ({
  hash: r['hash'] as string,
  address: (r['address'] as string | null) ?? null,
  reason: r['reason'] as string,
  source: r['source'] as string,
  micros: Number(r['micros']),
  exact: r['exact'] as string,
});

const toView = (r: Row): SuppressionView => ({
  addressHash: r.hash,
  address: r.address,
  reason: r.reason,
  source: r.source,
  createdAt: new Date(Math.floor(r.micros / 1000)).toISOString(),
});

/** One removal per suppression row: a retried DELETE (the row still there) carries the same id. */
export const removedEventId = (hashHex: string, createdAtMicros: number) => derivedId('evt', 'SuppressionRemoved', hashHex, createdAtMicros);

function suppressedEvent(row: Row, actor: string): AddressSuppressed {
  return {
    id: suppressionEventId(row.hash, row.micros),
    type: 'AddressSuppressed',
    version: 1,
    occurredAt: new Date(Math.floor(row.micros / 1000)).toISOString(),
    data: { addressHash: row.hash, reason: row.reason, source: row.source, actor },
  };
}

function removedEvent(row: Row, reason: string, actor: string, at: Date): SuppressionRemoved {
  return {
    id: removedEventId(row.hash, row.micros),
    type: 'SuppressionRemoved',
    version: 1,
    occurredAt: at.toISOString(),
    data: { addressHash: row.hash, reason, actor },
  };
}

const CURSOR = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|([0-9a-f]{64})$/;

/** The suppression key of an address, or the address problem (400 `invalid_address` for single inputs). */
function keyOf(address: string): { normalised: string; hash: string } | { problem: string } {
  try {
    return { normalised: normaliseAddress(address), hash: addressHash(address).toString('hex') };
  } catch (err) {
    if (err instanceof AddressError) return { problem: err.problem };
    throw err;
  }
}

function requireKey(address: string, field: string): { normalised: string; hash: string } {
  const key = keyOf(address);
  if ('problem' in key) throw new PostbusError('invalid_address', `${field}: invalid email address: ${key.problem.replace(/_/g, ' ')}`, { status: 400 });
  return key;
}

/** Inserts what is not suppressed yet, in one statement; returns the new rows. */
async function insertNew(tx: Queryable, keys: ReadonlyArray<{ normalised: string; hash: string }>, reason: string): Promise<Row[]> {
  const rows = await tx.query(sql`
    INSERT INTO suppressions (address_hash, address, reason, source)
    SELECT decode(t.h, 'hex'), t.a, ${reason}, ${SOURCE}
    FROM unnest(${keys.map((k) => k.hash)}::text[], ${keys.map((k) => k.normalised)}::text[]) AS t(h, a)
    ON CONFLICT (address_hash) DO NOTHING
    RETURNING ${COLUMNS}`);
  return rows.map(toRow);
}

async function publishAll(bus: Bus, events: ReadonlyArray<AddressSuppressed | SuppressionRemoved>, timeoutMs: number | undefined): Promise<void> {
  for (let i = 0; i < events.length; i += PUBLISH_SLICE) {
    await Promise.all(
      events.slice(i, i + PUBLISH_SLICE).map((e) => publishEvent(bus, bus.subjects.suppression(suppressionShard(e.data.addressHash)), e, timeoutMs ? { timeoutMs } : {})),
    );
  }
}

/**
 * The suppression list (Postgres, DESIGN "Suppression") and the SUPPRESSION events that
 * announce its changes. Each change is written and its events appended inside one
 * transaction, which commits only once JetStream has acknowledged them: a NATS outage
 * answers 503 and leaves nothing behind, so a retry does the whole change again, and no
 * committed row lacks its event. (A commit that fails after the publish leaves an event for
 * a row that is not there — the side that suppresses more.) Events and log lines carry the
 * hash only, never the address.
 */
export const suppressionRoutes: FastifyPluginAsyncTypebox<SuppressionRoutesOptions> = async (app, { deps, clock }) => {
  const { bus, db } = deps;

  app.get(
    '/',
    { schema: { tags: ['suppressions'], summary: 'The suppression list, newest first, or one address', querystring: SuppressionQuery, response: { 200: SuppressionList, ...errors } } },
    async (request) => {
      const { q, after } = request.query;
      if (q !== undefined) {
        const { hash } = requireKey(q, 'q');
        const rows = await withDatabase(() => db.query(sql`SELECT ${COLUMNS} FROM suppressions WHERE address_hash = decode(${hash}, 'hex')`));
        return { suppressions: rows.map(toRow).map(toView), next: null };
      }
      const limit = Number(request.query.limit ?? 50);
      const cursor = after !== undefined ? decodeCursor(after, CURSOR) : undefined;
      const where = cursor ? sql`WHERE (created_at, address_hash) < (${cursor.at}::timestamptz, decode(${cursor.id}, 'hex'))` : sql``;
      const rows = (
        await withDatabase(() => db.query(sql`SELECT ${COLUMNS} FROM suppressions ${where} ORDER BY created_at DESC, address_hash DESC LIMIT ${limit + 1}`))
      ).map(toRow);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { suppressions: page.map(toView), next: rows.length > limit && last ? encodeCursor(last.exact, last.hash) : null };
    },
  );

  app.post(
    '/',
    {
      bodyLimit: LIMITS.smallBodyBytes,
      schema: { tags: ['suppressions'], summary: 'Suppress an address (idempotent)', body: AddSuppression, response: { 200: AddedSuppression, 201: AddedSuppression, ...errors } },
    },
    async (request, reply) => {
      const key = requireKey(request.body.address, 'address');
      const reason = request.body.reason ?? DEFAULT_REASON;
      const { created, row } = await withDatabase(() =>
        db.tx(async (tx) => {
          const [inserted] = await insertNew(tx, [key], reason);
          if (inserted) {
            await publishAll(bus, [suppressedEvent(inserted, request.principal)], deps.publishTimeoutMs);
            return { created: true, row: inserted };
          }
          const [existing] = await tx.query(sql`SELECT ${COLUMNS} FROM suppressions WHERE address_hash = decode(${key.hash}, 'hex')`);
          // Lifted by someone else between the insert and this read: the client may simply retry.
          if (!existing) throw new PostbusError('concurrent_change', 'the suppression was removed meanwhile: retry', { status: 409 });
          return { created: false, row: toRow(existing) };
        }),
      );
      if (created) request.log.info({ addressHash: row.hash, actor: request.principal }, 'address suppressed by a person');
      return reply.code(created ? 201 : 200).send({ created, suppression: toView(row) });
    },
  );

  /** Valid entries are imported even when others are not; the invalid ones are reported by index. */
  app.post(
    '/import',
    { schema: { tags: ['suppressions'], summary: 'Suppress many addresses', body: ImportSuppressions, response: { 200: ImportResult, ...errors } } },
    async (request) => {
      const { addresses } = request.body;
      const reason = request.body.reason ?? DEFAULT_REASON;
      const invalid: Array<{ index: number; address: string; code: string }> = [];
      const keys = new Map<string, { normalised: string; hash: string }>();
      addresses.forEach((address, index) => {
        const key = keyOf(address);
        if ('problem' in key) invalid.push({ index, address, code: 'invalid_address' });
        else keys.set(key.hash, key);
      });
      const valid = addresses.length - invalid.length;
      const inserted =
        keys.size === 0
          ? []
          : await withDatabase(() =>
              db.tx(async (tx) => {
                const rows = await insertNew(tx, [...keys.values()], reason);
                await publishAll(bus, rows.map((r) => suppressedEvent(r, request.principal)), deps.publishTimeoutMs);
                return rows;
              }),
            );
      request.log.info({ added: inserted.length, invalid: invalid.length, actor: request.principal }, 'suppressions imported by a person');
      return { added: inserted.length, alreadySuppressed: valid - inserted.length, invalid };
    },
  );

  /**
   * Lifting a suppression is audited: SuppressionRemoved carries the reason and the person.
   * The row is locked, the event appended, then the row deleted and committed — so the audit
   * event can never be missing for a removal; a retry after a failed commit finds the row
   * still there and repeats the same event id.
   */
  app.delete(
    '/:addressHash',
    {
      bodyLimit: LIMITS.smallBodyBytes,
      schema: { tags: ['suppressions'], summary: 'Lift a suppression (audited)', params: AddressHashParam, body: RemoveSuppression, response: { 200: RemovedSuppression, ...errors } },
    },
    async (request) => {
      const hash = request.params.addressHash.toLowerCase();
      const { reason } = request.body;
      const row = await withDatabase(() =>
        db.tx(async (tx) => {
          const [found] = await tx.query(sql`SELECT ${COLUMNS} FROM suppressions WHERE address_hash = decode(${hash}, 'hex') FOR UPDATE`);
          if (!found) return undefined;
          const r = toRow(found);
          await publishAll(bus, [removedEvent(r, reason, request.principal, clock())], deps.publishTimeoutMs);
          await tx.query(sql`DELETE FROM suppressions WHERE address_hash = decode(${hash}, 'hex')`);
          return r;
        }),
      );
      if (!row) throw new PostbusError('suppression_not_found', 'the address is not suppressed', { status: 404 });
      request.log.info({ addressHash: hash, actor: request.principal }, 'suppression lifted by a person');
      return { removed: toView(row), reason, actor: request.principal };
    },
  );
};
