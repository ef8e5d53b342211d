import { createHash } from 'node:crypto';
import { publishEvent, streamReader, type Bus } from '@postbus/bus';
import { rebuildProjections } from '@postbus/cli';
import { encodeEvent, type PostbusEvent, type StoredMessage } from '@postbus/contracts';
import { applyBatch, ensureProjectionTables, sql, type Database } from '@postbus/db';
import { startTestEnvironment, testNamespace, waitFor, type TestEnvironment } from '@postbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProjector } from './app.js';
import { trackingProjection } from './projections/tracking.js';
import { dumpTables } from './testing/dump.js';
import { ids, subjectOf, suppression, tracking } from './testing/events.js';

const ns = testNamespace();
const warnings: string[] = [];
const log = { info() {}, error() {}, warn: (_: object, msg: string) => void warnings.push(msg) };
let bus: Bus;
let db: Database;
let env: TestEnvironment | undefined;

beforeAll(async () => {
  env = await startTestEnvironment('tracking-projection-int', { ns });
  ({ bus, db } = env);
});

afterAll(async () => {
  await env?.close();
});

// nine fraction digits: Postgres keeps six, and live and rebuilt rows must agree on them
const t = (s: number) => new Date(Date.UTC(2025, 2, 1, 8, 0, 0, 0) + s * 1000).toISOString().replace('Z', '456789Z');
const hash = (address: string) => createHash('sha256').update(address).digest('hex');
const p = trackingProjection(ns, { log });
const [TRACKING, SUPPRESSION] = p.streams as [string, string];
const publish = async (...events: PostbusEvent[]) => {
  for (const e of events) await publishEvent(bus, subjectOf(ns, e), e);
};

/** A log with opens and clicks from people and proxies, unsubscribes, suppressions and removals. */
function scenario() {
  const [a1, a2] = [ids.account(), ids.account()];
  const m = Array.from({ length: 6 }, () => ids.message());
  const r = (i: number, accountId = a1, campaignId: string | null = 'spring') => ({ messageId: m[i]!, accountId, ...(campaignId ? { campaignId } : {}) });
  const [alice, bob, carol, dave] = ['alice@a.example', 'bob@b.example', 'carol@c.example', 'dave@d.example'].map(hash) as [string, string, string, string];
  const trk: PostbusEvent[] = [
    // Opens: one event each in logs written before they were batched, then one event per account and flush.
    tracking.opened(r(0), t(10), 'proxy'), // the provider's image proxy fetches on delivery
    tracking.opensRecorded(a1, [
      { r: r(0), at: t(11) }, // the same minute, a person: a distinct fact
      { r: r(0), at: t(15), source: 'proxy' }, // the proxy again in that minute (a rolling deploy wrote it both ways): one fact
    ]),
    tracking.opensRecorded(a1, [{ r: r(0), at: t(200) }, { r: r(0), at: t(30) }]), // the person's minute again, in a second flush: one fact
    tracking.opensRecorded(a2, [{ r: r(1, a2, null), at: t(12) }]),
    tracking.clicked(r(0), t(20), 'https://shop.example/sale', 'scanner'),
    tracking.clicked(r(0), t(21), 'https://shop.example/sale', 'human'),
    tracking.clicked(r(1, a2, null), t(22), 'https://shop.example/a?b=c&d', 'human'),
    tracking.unsubscribed(r(2), t(30), alice), // alice stays unsubscribed
    tracking.unsubscribed(r(3), t(31), bob, 'page'), // bob is removed later by a person
    tracking.unsubscribed(r(4), t(32), carol), // carol is removed, then unsubscribes again
    tracking.unsubscribed(r(5, a2), t(300), carol),
  ];
  const supp: PostbusEvent[] = [
    suppression.suppressed(alice, t(30)),
    suppression.suppressed(bob, t(31)),
    suppression.suppressed(carol, t(32)),
    suppression.suppressed(dave, t(40), 'hard_bounce', 'bounce-processor'), // no unsubscribe row
    suppression.removed(bob, t(100)),
    suppression.removed(carol, t(100)),
    suppression.suppressed(carol, t(300)),
  ];
  return { a1, a2, m, alice, bob, carol, dave, trk, supp };
}

function stored(stream: string, events: readonly PostbusEvent[]): StoredMessage[] {
  return events.map((e, i) => ({ stream, seq: i + 1, subject: subjectOf(ns, e), data: encodeEvent(e) }));
}

async function reset(): Promise<void> {
  for (const table of p.tables) await db.query(sql`DROP TABLE IF EXISTS ${sql.ident(table)}`);
  await db.query(sql`DELETE FROM projection_checkpoints WHERE projection = ${p.name}`);
  await ensureProjectionTables(db, p);
}

describe('tracking projection against NATS and Postgres', () => {
  it('projects TRACKING and SUPPRESSION live; copies change nothing; a rebuild gives identical rows', async () => {
    const s = scenario();
    const controller = new AbortController();
    const running = buildProjector({ db, reader: streamReader(bus), ns, log, waitMs: 50, batchSize: 3 }).start(controller.signal);
    // interleaved as they would come: removals arrive while the projector follows both streams
    await publish(...s.trk.slice(0, 10), ...s.supp.slice(0, 6), s.trk[10]!, s.supp[6]!);
    // copies stored again (after the duplicate window, or by a second publisher) and a message that is not an event
    for (const e of [s.trk[0]!, s.trk[2]!, s.trk[5]!, s.trk[8]!, s.supp[4]!]) await bus.js.publish(subjectOf(ns, e), encodeEvent(e));
    await bus.js.publish(bus.subjects.tracking(s.a1, 'opened'), Buffer.from('{"not":"an event"'));

    const reader = streamReader(bus);
    const ends = await Promise.all([TRACKING, SUPPRESSION].map((x) => reader.lastSeq(x)));
    expect(ends).toEqual([s.trk.length + 4 + 1, s.supp.length + 1]);
    await waitFor(async () => {
      const rows = await db.query(sql`SELECT stream, position FROM projection_checkpoints WHERE projection = 'tracking'`);
      return [TRACKING, SUPPRESSION].every((x, i) => rows.some((r) => r.stream === x && r.position === ends[i]));
    }, { timeoutMs: 20_000, message: 'the tracking projection reaches the end of both streams' });
    controller.abort();
    await running;
    expect(warnings).toContain('skipping an invalid event');

    const opens = await db.query(sql`SELECT message_id, account_id, campaign_id, source, to_char(occurred_at AT TIME ZONE 'UTC', 'MI:SS.US') AS at
                                     FROM open_events ORDER BY occurred_at`);
    expect(opens).toEqual([
      { message_id: s.m[0], account_id: s.a1, campaign_id: 'spring', source: 'proxy', at: '00:10.000456' },
      { message_id: s.m[0], account_id: s.a1, campaign_id: 'spring', source: 'human', at: '00:11.000456' },
      { message_id: s.m[1], account_id: s.a2, campaign_id: null, source: 'human', at: '00:12.000456' },
      { message_id: s.m[0], account_id: s.a1, campaign_id: 'spring', source: 'human', at: '03:20.000456' },
    ]);
    const [people] = await db.query(sql`SELECT count(*) FILTER (WHERE source = 'human')::int AS human, count(*)::int AS all FROM open_events WHERE message_id = ${s.m[0]!}`);
    expect(people).toEqual({ human: 2, all: 3 });
    const clicks = await db.query(sql`SELECT message_id, campaign_id, url, source FROM click_events ORDER BY occurred_at`);
    expect(clicks).toEqual([
      { message_id: s.m[0], campaign_id: 'spring', url: 'https://shop.example/sale', source: 'scanner' },
      { message_id: s.m[0], campaign_id: 'spring', url: 'https://shop.example/sale', source: 'human' },
      { message_id: s.m[1], campaign_id: null, url: 'https://shop.example/a?b=c&d', source: 'human' },
    ]);
    const unsubscribed = await db.query(sql`SELECT address_hash, message_id, account_id, campaign_id, method, to_char(unsubscribed_at AT TIME ZONE 'UTC', 'MI:SS') AS at
                                            FROM unsubscribe_list ORDER BY unsubscribed_at`);
    expect(unsubscribed).toEqual([
      { address_hash: s.alice, message_id: s.m[2], account_id: s.a1, campaign_id: 'spring', method: 'one_click', at: '00:30' },
      { address_hash: s.carol, message_id: s.m[5], account_id: s.a2, campaign_id: 'spring', method: 'one_click', at: '05:00' },
    ]);
    const [history] = await db.query(sql`SELECT count(*)::int AS n FROM suppression_events`);
    expect(history).toEqual({ n: 4 + 7 }); // the copies add nothing
    const columns = await db.query(sql`SELECT column_name FROM information_schema.columns WHERE table_name = ANY(${p.tables as string[]}::text[])`);
    expect(columns.map((c) => c.column_name).filter((c: string) => /address$|recipient|email|ip/.test(c))).toEqual([]);

    const live = await dumpTables(db, p.tables);
    for (const table of p.tables) await db.query(sql`DROP TABLE ${sql.ident(table)}`);
    const summaries = await rebuildProjections({ db, bus, ns, log, names: ['tracking'] });
    expect(summaries.map((x) => x.streams)).toEqual([[{ stream: TRACKING, position: ends[0] }, { stream: SUPPRESSION, position: ends[1] }]]);
    expect(await dumpTables(db, p.tables)).toEqual(live);
  });

  it('gives the same rows whatever the interleaving of the two streams, and a batch applied twice changes nothing', async () => {
    const s = scenario();
    const T = stored(TRACKING, s.trk);
    const S = stored(SUPPRESSION, s.supp);
    const run = async (order: Array<['T' | 'S', number]>) => {
      await reset();
      const at = { T: 0, S: 0 };
      for (const [which, n] of order) {
        const source = which === 'T' ? T : S;
        const batch = source.slice(at[which], at[which] + n);
        if (batch.length === 0) continue;
        expect(await applyBatch(db, p, which === 'T' ? TRACKING : SUPPRESSION, at[which], batch)).toBe(true);
        at[which] += batch.length;
      }
      expect(at).toEqual({ T: T.length, S: S.length });
      return dumpTables(db, p.tables);
    };
    const reference = await run([['T', 100], ['S', 100]]); // as a rebuild does
    expect(reference.unsubscribe_list).toHaveLength(2);
    expect(await run([['S', 100], ['T', 100]])).toEqual(reference);
    expect(await run([['T', 9], ['S', 5], ['T', 1], ['S', 2], ['T', 1]])).toEqual(reference); // carol's removal before her second unsubscribe
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const order: Array<['T' | 'S', number]> = Array.from({ length: 40 }, () => [random() < 0.5 ? 'T' : 'S', 1 + Math.floor(random() * 3)]);
    expect(await run([...order, ['T', 100], ['S', 100]])).toEqual(reference);

    await db.tx((tx) => p.apply(tx, [...S.slice(0, 6), ...T.slice(0, 8), ...S.slice(0, 2)]));
    expect(await dumpTables(db, p.tables)).toEqual(reference);
  });
});
