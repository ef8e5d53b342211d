import { publishEvent, streamReader, type Bus } from '@postbus/bus';
import { rebuildProjections } from '@postbus/cli';
import { encodeEvent, streamName, type PostbusEvent } from '@postbus/contracts';
import { sql, type Database } from '@postbus/db';
import { startTestEnvironment, testNamespace, waitFor, type TestEnvironment } from '@postbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProjector } from './app.js';
import { dumpTables, PRIMARY_TABLES, PROJECTED_TABLES } from './testing/dump.js';
import { account, ids, mail, requested, subjectOf } from './testing/events.js';

const ns = testNamespace();
const warnings: string[] = [];
const log = { info() {}, error() {}, warn: (_: object, msg: string) => void warnings.push(msg) };
let bus: Bus;
let db: Database;
let env: TestEnvironment | undefined;

beforeAll(async () => {
  env = await startTestEnvironment('projector-int', { ns });
  ({ bus, db } = env);
});

afterAll(async () => {
  await env?.close();
});

// nine fraction digits: Postgres keeps six, and live and rebuilt rows must agree on them
const t = (s: number) => new Date(Date.UTC(2025, 2, 1, 8, 0, 0, 0) + s * 1000).toISOString().replace('Z', '456789Z');
const publish = async (...events: PostbusEvent[]) => {
  for (const e of events) await publishEvent(bus, subjectOf(ns, e), e);
};

async function seedPrimaryTables(): Promise<void> {
  await db.query(sql`INSERT INTO deliveries (message_id, state, kind, recipient, subject, requested_at, requested_by, expires_at)
                     VALUES (${ids.message()}, 'waiting', 'bulk', 'x@y.example', 'Hi', now(), 'test', now() + interval '1 day')`);
  await db.query(sql`INSERT INTO suppressions (address_hash, address, reason, source) VALUES (sha256('x@y.example'), 'x@y.example', 'unsubscribed', 'test')`);
  await db.query(sql`INSERT INTO secrets (id, kind, key_id, ciphertext) VALUES (${ids.secret()}, 'smtp_password', 'k1', 'opaque')`);
}

async function queueRow(messageId: string) {
  const [row] = await db.query(sql`SELECT status, account_id, assignment, attempt, last_reason, recipient, subject, campaign_id, sent_at IS NOT NULL AS has_sent_at
                                  FROM email_queue WHERE message_id = ${messageId}`);
  return row;
}

describe('projector against NATS and Postgres', () => {
  it('projects a realistic log live; a rebuild from the CLI gives identical rows and leaves primary tables alone', async () => {
    await seedPrimaryTables();
    const primaryBefore = await dumpTables(db, PRIMARY_TABLES);
    const [a1, a2] = [ids.account(), ids.account()];
    const m = Array.from({ length: 8 }, () => ids.message());
    const at = (i: number, acc = a1, assignment = 1, attempt = 1) => ({ messageId: m[i]!, accountId: acc, assignment, attempt });

    const controller = new AbortController();
    const projector = buildProjector({ db, reader: streamReader(bus), ns, log, waitMs: 50, batchSize: 4 });
    const running = projector.start(controller.signal);

    await publish(account.registered(a1, t(0)), account.registered(a2, t(1)), account.settingsChanged(a1, 1, t(2), { dailyLimit: 500 }));
    await publish(account.credentialsChanged(a2, t(3), 'smtp.relay.example'));
    await publish(requested(m[0]!, t(10), { campaignId: 'spring', subject: 'Spring sale' }), mail.queued(at(0), t(11)), mail.sent(at(0), t(12)));
    await publish(requested(m[1]!, t(10)), mail.queued(at(1), t(11)), mail.sendFailed(at(1), t(12)), mail.queued(at(1, a1, 1, 2), t(72)), mail.sent(at(1, a1, 1, 2), t(73)));
    await publish(requested(m[2]!, t(10)), mail.queued(at(2), t(11)), mail.uncertain(at(2), t(40)), mail.sent(at(2), t(41)));
    await publish(requested(m[3]!, t(10)), mail.waiting(m[3]!, t(11)), mail.expired(m[3]!, undefined, t(90)));
    await publish(requested(m[4]!, t(10)), mail.queued(at(4, a2), t(11)), mail.suppressed(at(4, a2), t(12)));
    // moved from a1 to a2 by a person; a1's late failure of the old assignment must not win
    await publish(requested(m[5]!, t(10)), mail.queued(at(5), t(11)), mail.queued(at(5, a2, 2, 1), t(20)), mail.sendFailed(at(5), t(21)), mail.sent(at(5, a2, 2, 1), t(22)));
    // MAIL before REQUESTS
    await publish(mail.queued(at(6), t(11), { to: 'early@b.example', requestedAt: t(10) }), requested(m[6]!, t(10), { to: 'early@b.example', subject: 'Early' }));
    await publish(requested(m[7]!, t(10)), mail.queued(at(7, a2), t(11)), mail.failed(at(7, a2), t(12)));
    // a copy of an event (same id, stored again after the duplicate window) and a message that is not an event
    const copy = mail.sent(at(0), t(12));
    await bus.js.publish(subjectOf(ns, copy), encodeEvent(copy));
    await bus.js.publish(bus.subjects.mail(a1, 'sent'), Buffer.from('{"not":"an event"'));

    const lastMail = await streamReader(bus).lastSeq(streamName(ns, 'MAIL'));
    await waitFor(async () => {
      const [c] = await db.query(sql`SELECT position FROM projection_checkpoints WHERE projection = 'mail' AND stream = ${streamName(ns, 'MAIL')}`);
      return c?.position === lastMail;
    }, { timeoutMs: 20_000, message: 'the mail projection reaches the end of MAIL' });
    await waitFor(async () => (await queueRow(m[6]!))?.subject === 'Early', { timeoutMs: 10_000, message: 'REQUESTS projected' });
    controller.abort();
    await running;
    expect(warnings).toContain('skipping an invalid event');

    expect(await queueRow(m[0]!)).toMatchObject({ status: 'sent', account_id: a1, campaign_id: 'spring', subject: 'Spring sale', has_sent_at: true });
    const [sentAt] = await db.query(sql`SELECT to_char(sent_at AT TIME ZONE 'UTC', 'SS.US') AS s FROM email_queue WHERE message_id = ${m[0]!}`);
    expect(sentAt).toEqual({ s: '12.000456' });
    expect(await queueRow(m[1]!)).toMatchObject({ status: 'sent', attempt: 2, last_reason: null });
    expect(await queueRow(m[2]!)).toMatchObject({ status: 'sent', attempt: 1 });
    expect(await queueRow(m[3]!)).toMatchObject({ status: 'expired', account_id: null, last_reason: 'expired' });
    expect(await queueRow(m[4]!)).toMatchObject({ status: 'suppressed', account_id: a2 });
    expect(await queueRow(m[5]!)).toMatchObject({ status: 'sent', account_id: a2, assignment: 2 });
    expect(await queueRow(m[6]!)).toMatchObject({ status: 'queued', recipient: 'early@b.example', subject: 'Early' });
    expect(await queueRow(m[7]!)).toMatchObject({ status: 'failed', last_reason: 'mailbox_unavailable' });
    const [logs] = await db.query(sql`SELECT count(*)::int AS n, count(*) FILTER (WHERE detail ? 'content')::int AS bodies FROM send_logs`);
    expect(logs).toEqual({ n: 8 + 20, bodies: 0 }); // the copy adds no row
    const accounts = await db.query(sql`SELECT account_id, daily_limit, smtp_host, version FROM sender_accounts ORDER BY registered_at`);
    expect(accounts).toEqual([
      { account_id: a1, daily_limit: 500, smtp_host: 'smtp.shop.example', version: 2 },
      { account_id: a2, daily_limit: 2000, smtp_host: 'smtp.relay.example', version: 2 },
    ]);
    const columns = await db.query(sql`SELECT column_name FROM information_schema.columns WHERE table_name = 'sender_accounts'`);
    expect(columns.map((c) => c.column_name).filter((c: string) => /secret|pass/.test(c))).toEqual([]);

    const live = await dumpTables(db, PROJECTED_TABLES);
    for (const table of PROJECTED_TABLES) await db.query(sql`DROP TABLE ${sql.ident(table)}`);
    const progress: string[] = [];
    const summaries = await rebuildProjections({ db, bus, ns, log, onProgress: (p) => progress.push(`${p.projection}:${p.stream}:${p.position}/${p.target}`) });
    expect(summaries.map((s) => s.projection)).toEqual(['accounts', 'mail', 'tracking']);
    expect(progress).toContain(`mail:${streamName(ns, 'MAIL')}:${lastMail}/${lastMail}`);
    expect(await dumpTables(db, PROJECTED_TABLES)).toEqual(live);
    expect(await dumpTables(db, PRIMARY_TABLES)).toEqual(primaryBefore);

    // and a rebuild of one projection by name, while the other's rows stay
    await rebuildProjections({ db, bus, ns, log, names: ['mail'] });
    expect(await dumpTables(db, PROJECTED_TABLES)).toEqual(live);
    await expect(rebuildProjections({ db, bus, ns, log, names: ['nope'] })).rejects.toThrow(/unknown projection nope/);
  });

  it('a rebuild while the projector runs: the projector waits, repositions, and the rows end as a fresh rebuild makes them', async () => {
    const acc = ids.account();
    const controller = new AbortController();
    const running = buildProjector({ db, reader: streamReader(bus), ns, log, waitMs: 50, batchSize: 20 }).start(controller.signal);
    const wave = async (from: number) => {
      for (let i = from; i < from + 150; i++) {
        const r = { messageId: ids.message(), accountId: acc };
        await Promise.all([publishEvent(bus, subjectOf(ns, requested(r.messageId, t(i))), requested(r.messageId, t(i))), publish(mail.queued(r, t(i + 1)), mail.sent(r, t(i + 2)))]);
      }
    };
    const publishing = wave(1_000);
    await rebuildProjections({ db, bus, ns, log });
    await publishing;
    await wave(2_000);
    const streams = [streamName(ns, 'REQUESTS'), streamName(ns, 'MAIL')];
    const ends = await Promise.all(streams.map((s) => streamReader(bus).lastSeq(s)));
    let seen = '';
    await waitFor(async () => {
      const rows = await db.query(sql`SELECT stream, position FROM projection_checkpoints WHERE projection = 'mail'`);
      seen = JSON.stringify(rows);
      return streams.every((s, i) => rows.some((r) => r.stream === s && r.position === ends[i]));
    }, { timeoutMs: 30_000, message: 'the projector catches up after the rebuild' }).catch((err: Error) => {
      throw new Error(`${err.message}: ${seen} vs ${ends.join()}`);
    });
    controller.abort();
    await running;
    const live = await dumpTables(db, PROJECTED_TABLES);
    await rebuildProjections({ db, bus, ns, log });
    expect(await dumpTables(db, PROJECTED_TABLES)).toEqual(live);
  });
});

