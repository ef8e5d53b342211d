import { connectBus } from '@postbus/bus';
import { addressHash, decodeEvent, derivedId, type SuppressionEvent } from '@postbus/contracts';
import { sql } from '@postbus/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedNatsUrl, testNamespace } from '@postbus/testing';
import { startHarness, type Harness } from '../test/harness.js';

let h: Harness;
let auth: { authorization: string };
beforeAll(async () => {
  h = await startHarness();
  auth = await h.authHeader();
});
afterAll(async () => {
  await h?.close();
});

interface View {
  addressHash: string;
  address: string | null;
  reason: string;
  source: string;
  createdAt: string;
}

const hex = (address: string) => addressHash(address).toString('hex');
const add = (payload: object) => h.app.inject({ method: 'POST', url: '/v1/suppressions', headers: auth, payload });
const list = (query: string) => h.app.inject({ method: 'GET', url: `/v1/suppressions${query}`, headers: auth });
const remove = (hash: string, payload?: object) =>
  h.app.inject({ method: 'DELETE', url: `/v1/suppressions/${hash}`, headers: auth, ...(payload ? { payload } : {}) });

async function suppressionEvents(): Promise<SuppressionEvent[]> {
  return (await h.rawMessages('SUPPRESSION')).map((m) => decodeEvent(m.data) as SuppressionEvent);
}

async function micros(hash: string): Promise<number> {
  const [row] = await h.db.query(sql`SELECT (extract(epoch FROM created_at) * 1000000)::bigint AS micros FROM suppressions WHERE address_hash = decode(${hash}, 'hex')`);
  return Number(row!.micros);
}

describe('adding and looking up', () => {
  it('suppresses a normalised address, announces it by hash with the actor, and is idempotent', async () => {
    const res = await add({ address: 'Some.One+news@GoogleMail.com', reason: 'asked by phone' });
    expect(res.statusCode).toBe(201);
    const hash = hex('someone@gmail.com');
    expect(res.json()).toMatchObject({
      created: true,
      suppression: { addressHash: hash, address: 'someone@gmail.com', reason: 'asked by phone', source: 'admin' },
    });

    const events = (await suppressionEvents()).filter((e) => e.data.addressHash === hash);
    expect(events).toHaveLength(1);
    // The id tracking would give the same row: one fact whoever publishes it.
    expect(events[0]).toMatchObject({
      id: derivedId('evt', 'AddressSuppressed', hash, await micros(hash)),
      type: 'AddressSuppressed',
      data: { addressHash: hash, reason: 'asked by phone', source: 'admin', actor: 'admin' },
    });

    const again = await add({ address: 'someone@gmail.com' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ created: false, suppression: { addressHash: hash, reason: 'asked by phone' } });
    expect((await suppressionEvents()).filter((e) => e.data.addressHash === hash)).toHaveLength(1);

    const found = await list(`?q=${encodeURIComponent('SOMEONE@gmail.com')}`);
    expect(found.statusCode).toBe(200);
    expect(found.json<{ suppressions: View[] }>().suppressions.map((s) => s.addressHash)).toEqual([hash]);
    const missing = await list('?q=nobody%40example.com');
    expect(missing.json()).toEqual({ suppressions: [], next: null });
  });

  it.each([
    ['a bad address', { address: 'not an address' }, 'invalid_address'],
    ['a bad lookup', undefined, 'invalid_address'],
    ['an unknown field', { address: 'x@example.com', source: 'tracking' }, 'invalid_request'],
    ['an empty reason', { address: 'x@example.com', reason: '' }, 'invalid_request'],
  ])('refuses %s with 400', async (_name, body, code) => {
    const res = body ? await add(body) : await list('?q=nope');
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 400, code });
  });

  it('refuses a cursor it did not make', async () => {
    const res = await list(`?after=${Buffer.from('whatever').toString('base64url')}`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'invalid_cursor' });
  });
});

describe('import', () => {
  it('imports the valid entries, reports the invalid ones and announces only the new rows', async () => {
    await add({ address: 'already@example.com' });
    const before = (await suppressionEvents()).length;
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/suppressions/import',
      headers: auth,
      payload: { addresses: ['one@example.com', 'bad address', 'Already@example.com', 'two@example.com', '', 'ONE@example.com'], reason: 'list cleanup' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      added: 2,
      alreadySuppressed: 2,
      invalid: [
        { index: 1, address: 'bad address', code: 'invalid_address' },
        { index: 4, address: '', code: 'invalid_address' },
      ],
    });
    const added = (await suppressionEvents()).slice(before);
    expect(added.map((e) => e.data.addressHash).sort()).toEqual([hex('one@example.com'), hex('two@example.com')].sort());
    for (const e of added) expect(e).toMatchObject({ type: 'AddressSuppressed', data: { reason: 'list cleanup', source: 'admin', actor: 'admin' } });
    const [row] = await h.db.query(sql`SELECT reason, source, address FROM suppressions WHERE address_hash = ${addressHash('two@example.com')}`);
    expect(row).toEqual({ reason: 'list cleanup', source: 'admin', address: 'two@example.com' });
  });

  it('refuses more than 10,000 addresses', async () => {
    const addresses = Array.from({ length: 10_001 }, (_, i) => `u${i}@example.com`);
    const res = await h.app.inject({ method: 'POST', url: '/v1/suppressions/import', headers: auth, payload: { addresses } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'invalid_request' });
  });
});

describe('removing', () => {
  it('needs a reason, then deletes the row and audits it with SuppressionRemoved', async () => {
    await add({ address: 'lift.me@example.com' });
    const hash = hex('lift.me@example.com');
    const rowMicros = await micros(hash);

    for (const body of [undefined, {}, { reason: '' }]) {
      const res = await remove(hash, body);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'invalid_request' });
    }
    expect(await micros(hash)).toBe(rowMicros);

    const res = await remove(hash.toUpperCase(), { reason: 'subscribed again in person' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      removed: { addressHash: hash, address: 'lift.me@example.com', source: 'admin' },
      reason: 'subscribed again in person',
      actor: 'admin',
    });
    expect(await h.db.query(sql`SELECT 1 FROM suppressions WHERE address_hash = ${addressHash('lift.me@example.com')}`)).toHaveLength(0);
    const removed = (await suppressionEvents()).filter((e) => e.type === 'SuppressionRemoved' && e.data.addressHash === hash);
    expect(removed).toEqual([
      expect.objectContaining({
        id: derivedId('evt', 'SuppressionRemoved', hash, rowMicros),
        data: { addressHash: hash, reason: 'subscribed again in person', actor: 'admin' },
      }),
    ]);

    const again = await remove(hash, { reason: 'twice' });
    expect(again.statusCode).toBe(404);
    expect(again.json()).toMatchObject({ code: 'suppression_not_found' });
    // Suppressing it again is a new row, hence a new fact.
    expect((await add({ address: 'lift.me@example.com' })).statusCode).toBe(201);
  });

  it('404s an unknown hash and refuses anything but 64 hex characters', async () => {
    expect((await remove('0'.repeat(64), { reason: 'x' })).statusCode).toBe(404);
    for (const bad of ['abc', 'g'.repeat(64), '0'.repeat(65), encodeURIComponent('someone@example.com')]) {
      const res = await remove(bad, { reason: 'x' });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'invalid_request' });
    }
  });
});

describe('listing', () => {
  it('pages newest first with an opaque cursor, rows sharing a timestamp included', async () => {
    // One statement: these rows share created_at, so the hash orders them.
    await h.app.inject({
      method: 'POST',
      url: '/v1/suppressions/import',
      headers: auth,
      payload: { addresses: Array.from({ length: 7 }, (_, i) => `page${i}@example.net`) },
    });
    await add({ address: 'newest@example.net' });
    const [{ n }] = (await h.db.query(sql`SELECT count(*)::int AS n FROM suppressions`)) as [{ n: number }];

    const seen: View[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const res = await list(`?limit=3${next ? `&after=${next}` : ''}`);
      expect(res.statusCode).toBe(200);
      const body = res.json<{ suppressions: View[]; next: string | null }>();
      expect(body.suppressions.length).toBeLessThanOrEqual(3);
      seen.push(...body.suppressions);
      next = body.next;
      if (next) expect(next).toMatch(/^[A-Za-z0-9_-]+$/);
      pages++;
    } while (next && pages < 50);

    expect(seen).toHaveLength(n);
    expect(new Set(seen.map((s) => s.addressHash)).size).toBe(n);
    expect(seen[0]!.address).toBe('newest@example.net');
    const order = await h.db.query(sql`SELECT encode(address_hash, 'hex') AS h FROM suppressions ORDER BY created_at DESC, address_hash DESC`);
    expect(seen.map((s) => s.addressHash)).toEqual(order.map((r) => r.h as string));
  });
});

describe('privacy and access', () => {
  it('stores no plain address in any SUPPRESSION event', async () => {
    const stored = await h.rawMessages('SUPPRESSION');
    expect(stored.length).toBeGreaterThan(0);
    const addresses = (await h.db.query(sql`SELECT address FROM suppressions`)).map((r) => r.address as string);
    for (const plain of [...addresses, 'someone@gmail.com', 'Some.One+news', 'lift.me@example.com', '@example.com', '@gmail.com']) {
      for (const m of stored) {
        expect(Buffer.from(m.data).includes(plain)).toBe(false);
        expect(Buffer.from(m.header).includes(plain)).toBe(false);
      }
    }
  });

  it.each([
    ['GET', '/v1/suppressions', undefined],
    ['GET', '/v1/suppressions?q=someone%40gmail.com', undefined],
    ['POST', '/v1/suppressions', { address: 'anon@example.com' }],
    ['POST', '/v1/suppressions/import', { addresses: ['anon@example.com'] }],
    ['DELETE', `/v1/suppressions/${'a'.repeat(64)}`, { reason: 'x' }],
  ] as const)('%s %s without a token is 401', async (method, url, payload) => {
    const res = await h.app.inject({ method, url, ...(payload ? { payload } : {}) });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: 'unauthorized' });
  });

  it('leaves the list alone when unauthenticated', async () => {
    expect(await h.db.query(sql`SELECT 1 FROM suppressions WHERE address_hash = ${addressHash('anon@example.com')}`)).toHaveLength(0);
  });
});

describe('when JetStream refuses the publish', () => {
  it('answers 503 and leaves no row without its event (nor a removal without its audit)', async () => {
    await add({ address: 'kept@example.com' });
    const bare = await connectBus({ servers: [sharedNatsUrl()], name: 'admin-test-supp-bare', namespace: testNamespace() });
    try {
      const app = await h.variant({ bus: bare, publishTimeoutMs: 1_000 });
      const post = await app.inject({ method: 'POST', url: '/v1/suppressions', headers: auth, payload: { address: 'lost@example.com' } });
      expect(post.statusCode, post.body).toBe(503);
      expect(post.headers['content-type']).toMatch(/^application\/problem\+json/);
      const imported = await app.inject({ method: 'POST', url: '/v1/suppressions/import', headers: auth, payload: { addresses: ['lost2@example.com'] } });
      expect(imported.statusCode).toBe(503);
      const del = await app.inject({ method: 'DELETE', url: `/v1/suppressions/${hex('kept@example.com')}`, headers: auth, payload: { reason: 'x' } });
      expect(del.statusCode).toBe(503);
    } finally {
      await bare.close();
    }
    const rows = await h.db.query(sql`SELECT address FROM suppressions WHERE address IN ('lost@example.com', 'lost2@example.com', 'kept@example.com')`);
    expect(rows.map((r) => r.address as string)).toEqual(['kept@example.com']);
    // The retry does the whole change.
    expect((await add({ address: 'lost@example.com' })).statusCode).toBe(201);
  });
});
