import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@postbus/testing';
import { connectDatabase, type Database } from './connect.js';
import { migrate } from './migrate.js';
import { sql, type Transaction } from '@databases/pg';
import { accountUsage, insertDeliveries } from './ledger/dispatch.js';
import { claimBatch, startEpoch } from './ledger/claim.js';
import { AdvanceBatcher, advance, advanceCalls, type AdvanceInput, type Outcome } from './ledger/outcome.js';
import { addSuppression } from './suppression.js';
import { addressHash } from '@postbus/contracts';

const A = 'acc_01JAAAAAAAAAAAAAAAAAAAAAAA';
const now = new Date('2026-11-28T12:00:00Z');
let tdb: TestDatabase;
let db: Database;
let n = 0;

async function queue(count: number, recipient = (i: number) => `r${i}@example.test`): Promise<Array<{ messageId: string; assignment: number; attempt: number }>> {
  const rows = Array.from({ length: count }, (_, i) => ({
    messageId: `msg_${String(++n).padStart(26, '0')}`,
    kind: 'transactional' as const,
    pinnedAccountId: null,
    campaignId: null,
    recipient: recipient(i),
    content: { to: recipient(i), subject: 's', text: 't' },
    requestedAt: now,
    requestedBy: 'test',
    expiresAt: new Date(now.getTime() + 3_600_000),
    accountId: A,
  }));
  await db.tx((tx) => insertDeliveries(tx, rows, now));
  return rows.map((r) => ({ messageId: r.messageId, assignment: 1, attempt: 1 }));
}

const state = async (id: string) => (await db.query(sql`SELECT state FROM deliveries WHERE message_id = ${id}`))[0]?.state;

let batcher: AdvanceBatcher;

beforeAll(async () => {
  tdb = await createTestDatabase();
  db = connectDatabase({ url: tdb.url, poolSize: 4 });
  await migrate(db);
  batcher = new AdvanceBatcher(db);
});
afterAll(async () => {
  await db.dispose();
  await tdb.drop();
});
beforeEach(async () => {
  await db.query(sql`TRUNCATE deliveries, delivery_contents, quota_usage, suppressions, account_epochs`);
});

describe('the claim', () => {
  it('given a suppressed recipient, then it is settled as suppressed and never claimed', async () => {
    const items = await queue(2, (i) => (i === 0 ? 'Gone.Person+x@GMAIL.com' : 'ok@example.test'));
    await addSuppression(db, 'goneperson@gmail.com', 'unsubscribed', 'test');
    const { epoch } = await startEpoch(db, A, now);
    const res = await claimBatch(db, { accountId: A, epoch, items, dailyLimit: 10, now });
    expect(res.suppressed.map((s) => s.messageId)).toEqual([items[0]!.messageId]);
    expect(res.claimed.map((c) => c.messageId)).toEqual([items[1]!.messageId]);
  });

  it('given a limit of 3 with 2 sent today, then one is claimed and the rest deferred without using an attempt', async () => {
    await db.query(sql`INSERT INTO quota_usage VALUES (${A}, ${new Date('2026-11-28T08:00:00Z')}, 2)`);
    const items = await queue(4);
    const { epoch } = await startEpoch(db, A, now);
    const res = await claimBatch(db, { accountId: A, epoch, items, dailyLimit: 3, now });
    expect(res.claimed).toHaveLength(1);
    expect(res.deferred).toHaveLength(3);
    expect(await state(items[3]!.messageId)).toBe('retry_wait');
  });

  it('given sends 23 h ago (yesterday, UTC), then the rolling 24 h window still counts them', async () => {
    await db.query(sql`INSERT INTO quota_usage VALUES (${A}, ${new Date('2026-11-27T13:00:00Z')}, 3)`);
    const items = await queue(2);
    const { epoch } = await startEpoch(db, A, now);
    const res = await claimBatch(db, { accountId: A, epoch, items, dailyLimit: 4, now });
    expect(res.claimed).toHaveLength(1);
    const usage = (await accountUsage(db, [A], now)).get(A)!;
    expect(usage).toMatchObject({ sentToday: 0, sentRolling24h: 3 });
  });

  it('given a newer epoch, then the old worker can neither claim nor mark sending', async () => {
    const items = await queue(2);
    const old = await startEpoch(db, A, now);
    const res = await claimBatch(db, { accountId: A, epoch: old.epoch, items, dailyLimit: 10, now });
    const next = await startEpoch(db, A, now);
    expect(next.reset.map((r) => r.messageId).sort()).toEqual(res.claimed.map((c) => c.messageId).sort());
    const r = await advance(db, { accountId: A, epoch: old.epoch, now, next: items[0]!.messageId });
    expect(r).toEqual({ recorded: false, marked: false, stale: true });
    await expect(claimBatch(db, { accountId: A, epoch: old.epoch, items, dailyLimit: 10, now })).rejects.toMatchObject({ code: 'stale_epoch' });
  });
});

describe('the claim in one statement (ledger_claim)', () => {
  it('given every kind of item in one batch, then each gets its verdict, in the order given, and only the claimable are claimed', async () => {
    const [fresh, settled, superseded, expiring, again] = await queue(5);
    const other = 'acc_01JBBBBBBBBBBBBBBBBBBBBBBB';
    await db.query(sql`UPDATE deliveries SET state = 'sent', outcome_at = ${now} WHERE message_id = ${settled!.messageId}`);
    await db.query(sql`UPDATE deliveries SET expires_at = ${now} WHERE message_id = ${expiring!.messageId}`);
    const { epoch } = await startEpoch(db, A, now);
    const items = [
      fresh!,
      settled!,
      { ...superseded!, attempt: 2 }, // an older work item of a message tried again
      expiring!,
      { messageId: 'msg_unknown', assignment: 1, attempt: 1 },
      again!,
      fresh!, // the same work item twice: claimed once
    ];
    const res = await claimBatch(db, { accountId: A, epoch, items, dailyLimit: 10, now });
    expect(res.claimed.map((c) => c.messageId)).toEqual([fresh!.messageId, again!.messageId]);
    expect(res.claimed[0]).toMatchObject({ recipient: 'r0@example.test', content: { to: 'r0@example.test', subject: 's' }, sendFailures: 0 });
    expect(res.settled).toMatchObject([{ messageId: settled!.messageId, state: 'sent' }]);
    expect(res.skipped.sort()).toEqual([superseded!.messageId, 'msg_unknown'].sort());
    expect(res.expired).toMatchObject([{ messageId: expiring!.messageId, expiresAt: now }]);
    expect(res.recheck).toEqual([]);
    expect(await state(expiring!.messageId)).toBe('expired');
    expect(await state(superseded!.messageId)).toBe('assigned');
    // Another account's worker finds nothing of this account's to claim.
    await startEpoch(db, other, now);
    const theirs = await claimBatch(db, { accountId: other, epoch: 1, items: [again!], dailyLimit: 10, now });
    expect(theirs.skipped).toEqual([again!.messageId]);
  });

  it('given more claimable items than room, then the first ones in the batch are claimed and the rest deferred', async () => {
    const items = await queue(5);
    const { epoch } = await startEpoch(db, A, now);
    await addSuppression(db, 'r1@example.test', 'unsubscribed', 'test');
    const res = await claimBatch(db, { accountId: A, epoch, items, dailyLimit: 2, now, deferFor: 5_000 });
    expect(res.suppressed.map((s) => s.messageId)).toEqual([items[1]!.messageId]);
    expect(res.claimed.map((c) => c.messageId)).toEqual([items[0]!.messageId, items[2]!.messageId]);
    expect(res.deferred.map((d) => d.messageId)).toEqual([items[3]!.messageId, items[4]!.messageId]);
    expect(res.deferred[0]!.nextAttemptAt).toEqual(new Date(now.getTime() + 5_000));
    const [row] = await db.query(sql`SELECT state, next_attempt_at, reason, attempt FROM deliveries WHERE message_id = ${items[4]!.messageId}`);
    expect(row).toMatchObject({ state: 'retry_wait', next_attempt_at: new Date(now.getTime() + 5_000), reason: 'limit_reached', attempt: 1 });
    // Claimed rows hold their room: a second claim finds none.
    const more = await queue(1);
    expect((await claimBatch(db, { accountId: A, epoch, items: more, dailyLimit: 2, now })).deferred).toHaveLength(1);
  });

  it('given a recipient that is not the row\'s, then the hash is not trusted: nothing is claimed and the item is given back', async () => {
    const [item] = await queue(1, () => 'gone@example.test');
    await addSuppression(db, 'gone@example.test', 'unsubscribed', 'test');
    const { epoch } = await startEpoch(db, A, now);
    const call = (recipient: string, hash: string | null) =>
      JSON.stringify([{ idx: 0, message: item!.messageId, assignment: 1, attempt: 1, recipient, hash }]);
    const innocent = addressHash('someone@example.test').toString('hex');
    const rows = await db.query(sql`SELECT verdict FROM ledger_claim(${A}, ${epoch}, ${call('someone@example.test', innocent)}::jsonb, 10, ${now}::timestamptz, ${now}::timestamptz)`);
    expect(rows.map((r) => r.verdict)).toEqual(['recheck']);
    const noHash = await db.query(sql`SELECT verdict FROM ledger_claim(${A}, ${epoch}, ${call('gone@example.test', null)}::jsonb, 10, ${now}::timestamptz, ${now}::timestamptz)`);
    expect(noHash.map((r) => r.verdict)).toEqual(['recheck']);
    expect(await state(item!.messageId)).toBe('assigned');
    const res = await claimBatch(db, { accountId: A, epoch, items: [item!], dailyLimit: 10, now });
    expect(res.suppressed.map((s) => s.messageId)).toEqual([item!.messageId]);
  });

  it('given a long suppression list, then each claim probes it by key, however often it runs', async () => {
    await db.query(sql`INSERT INTO suppressions (address_hash, reason, source)
                       SELECT sha256(convert_to('gone' || g || '@example.test', 'UTF8')), 'unsubscribed', 'test' FROM generate_series(1, 3000) g`);
    await addSuppression(db, 'r3@example.test', 'unsubscribed', 'test');
    const { epoch } = await startEpoch(db, A, now);
    const batches = [];
    for (let b = 0; b < 8; b++) batches.push(await queue(5));
    // One connection, one transaction: the backend's own counters, past the five calls after
    // which plpgsql may switch to a generic plan (the function forces one from the start).
    const counters = sql`
      SELECT pg_stat_get_xact_tuples_returned('suppressions_created'::regclass)::int AS by_time,
             pg_stat_get_xact_numscans('suppressions'::regclass)::int AS seq_scans,
             pg_stat_get_xact_numscans('suppressions_pkey'::regclass)::int AS key_scans`;
    const counted = await db.tx(async (tx) => {
      const [before] = await tx.query(counters);
      const verdicts: string[] = [];
      for (const items of batches) {
        const calls = items.map((item, idx) => ({ idx, message: item.messageId, assignment: 1, attempt: 1, recipient: `r${idx}@example.test`, hash: addressHash(`r${idx}@example.test`).toString('hex') }));
        const rows = await tx.query(sql`SELECT verdict FROM ledger_claim(${A}, ${epoch}, ${JSON.stringify(calls)}::jsonb, 1000, ${now}::timestamptz, ${now}::timestamptz)`);
        verdicts.push(...rows.map((r) => r.verdict as string));
      }
      const [after] = await tx.query(counters);
      const delta = (k: string) => (after![k] as number) - (before![k] as number);
      return { verdicts, by_time: delta('by_time'), seq_scans: delta('seq_scans'), key_scans: delta('key_scans') };
    });
    expect(counted.verdicts.filter((v) => v === 'suppressed')).toHaveLength(8);
    expect(counted.verdicts.filter((v) => v === 'claimed')).toHaveLength(32);
    expect(counted.by_time).toBe(0);
    expect(counted.seq_scans).toBe(0);
    expect(counted.key_scans).toBe(40);
  });

  it.each([
    ['merge', sql`SET LOCAL enable_nestloop = off; SET LOCAL enable_hashjoin = off`],
    ['hash', sql`SET LOCAL enable_nestloop = off; SET LOCAL enable_mergejoin = off`],
    ['nested loop', sql`SELECT 1`],
  ])('given %s joins in a plan made while the ledger was small, then a claim still reaches rows only by key once it is large', async (_join, joins) => {
    // Seen in bench:send: the generic plan made at a sender's first claim (a few hundred rows,
    // no statistics) joined the batch to the ledger with a merge join over the whole primary
    // key, and kept doing so as the ledger grew. Each join method is forced here in turn, on a
    // connection of its own (a plan is cached per connection).
    const { epoch } = await startEpoch(db, A, now);
    const first = await queue(3);
    const later = await queue(5);
    const calls = (items: typeof first) =>
      JSON.stringify(items.map((item, idx) => ({ idx, message: item.messageId, assignment: 1, attempt: 1, recipient: `r${idx}@example.test`, hash: addressHash(`r${idx}@example.test`).toString('hex') })));
    const claim = (tx: Transaction, items: typeof first) =>
      tx.query(sql`SELECT verdict FROM ledger_claim(${A}, ${epoch}, ${calls(items)}::jsonb, 100000, ${now}::timestamptz, ${now}::timestamptz)`);
    const counters = sql`
      SELECT pg_stat_get_xact_tuples_returned('deliveries_pkey'::regclass)::int AS ledger_keys,
             pg_stat_get_xact_tuples_returned('delivery_contents_pkey'::regclass)::int AS content_keys,
             pg_stat_get_xact_numscans('deliveries'::regclass)::int AS ledger_seq_scans,
             pg_stat_get_xact_numscans('delivery_contents'::regclass)::int AS content_seq_scans`;
    // Another account's rows, `from` to `to`: the ledger around the worker's own.
    const others = (tx: Transaction, from: number, to: number) => tx.query(sql`
      WITH m AS (SELECT 'msg_big' || lpad(g::text, 23, '0') AS id FROM generate_series(${from}::int, ${to}::int) g), d AS (
        INSERT INTO deliveries (message_id, state, kind, account_id, recipient, subject, assignment, attempt, requested_at, requested_by, assigned_at, expires_at)
        SELECT id, 'assigned', 'bulk', 'acc_01JBBBBBBBBBBBBBBBBBBBBBBB', 'x@example.test', 's', 1, 1, ${now}, 'test', ${now}, ${new Date(now.getTime() + 3_600_000)} FROM m RETURNING message_id)
      INSERT INTO delivery_contents (message_id, content) SELECT message_id, '{}'::jsonb FROM d`);
    const own = connectDatabase({ url: tdb.url, poolSize: 1 });
    try {
      const counted = await own.tx(async (tx) => {
        await tx.query(joins);
        await others(tx, 1, 200);
        await claim(tx, first);
        await others(tx, 201, 6_000);
        const [before] = await tx.query(counters);
        const verdicts = (await claim(tx, later)).map((r) => r.verdict as string);
        const [after] = await tx.query(counters);
        const delta = (k: string) => (after![k] as number) - (before![k] as number);
        return { verdicts, ledger_keys: delta('ledger_keys'), content_keys: delta('content_keys'), ledger_seq_scans: delta('ledger_seq_scans'), content_seq_scans: delta('content_seq_scans') };
      });
      expect(counted.verdicts).toEqual(['claimed', 'claimed', 'claimed', 'claimed', 'claimed']);
      expect(counted.ledger_seq_scans).toBe(0);
      expect(counted.content_seq_scans).toBe(0);
      // Each row is reached by its key a few times (the lock, the read, the claim, its dead
      // versions, a merge join's rescans): a bound of its own, not the ledger's 6,000 rows.
      expect(counted.ledger_keys).toBeLessThanOrEqual(5 * 12);
      expect(counted.content_keys).toBeLessThanOrEqual(5 * 2);
    } finally {
      await own.dispose();
    }
  });

  it('given a claim waiting on the epoch while a new worker takes the account, then it claims nothing', async () => {
    const items = await queue(3);
    const old = await startEpoch(db, A, now);
    const blocker = connectDatabase({ url: tdb.url, poolSize: 1 });
    try {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      const bump = blocker.tx(async (tx) => {
        await tx.query(sql`UPDATE account_epochs SET epoch = epoch + 1 WHERE account_id = ${A}`);
        locked();
        await held;
      });
      await isLocked;
      const claim = claimBatch(db, { accountId: A, epoch: old.epoch, items, dailyLimit: 10, now });
      await new Promise((r) => setTimeout(r, 100));
      release();
      await bump;
      await expect(claim).rejects.toMatchObject({ code: 'stale_epoch' });
      expect(await db.query(sql`SELECT count(*)::int AS n FROM deliveries WHERE state = 'claimed'`)).toEqual([{ n: 0 }]);
    } finally {
      await blocker.dispose();
    }
  });
});

describe('sending and outcomes', () => {
  it('given a message marked sending when its worker dies, then the next worker records it uncertain and counts it', async () => {
    const items = await queue(1);
    const w1 = await startEpoch(db, A, now);
    await claimBatch(db, { accountId: A, epoch: w1.epoch, items, dailyLimit: 10, now });
    expect(await advance(db, { accountId: A, epoch: w1.epoch, now, next: items[0]!.messageId })).toMatchObject({ marked: true });
    const w2 = await startEpoch(db, A, now);
    expect(w2.uncertain.map((u) => u.messageId)).toEqual([items[0]!.messageId]);
    expect(await state(items[0]!.messageId)).toBe('uncertain');
    expect((await accountUsage(db, [A], now)).get(A)!.sentToday).toBe(1);
    // The old worker learns the server said 250: the truth is recorded, and not counted twice.
    const late = await advance(db, { accountId: A, epoch: w1.epoch, now, outcome: { kind: 'sent', messageId: items[0]!.messageId, headerMessageId: '<x@y>' } });
    expect(late.recorded).toBe(true);
    expect(await state(items[0]!.messageId)).toBe('sent');
    expect((await accountUsage(db, [A], now)).get(A)!.sentToday).toBe(1);
  });

  it('given an outcome and the next mark in one step, then both happen and sent counts once', async () => {
    const items = await queue(2);
    const { epoch } = await startEpoch(db, A, now);
    await claimBatch(db, { accountId: A, epoch, items, dailyLimit: 10, now });
    await advance(db, { accountId: A, epoch, now, next: items[0]!.messageId });
    const r = await advance(db, { accountId: A, epoch, now, outcome: { kind: 'sent', messageId: items[0]!.messageId, headerMessageId: '<a@b>', replyCode: 250 }, next: items[1]!.messageId });
    expect(r).toEqual({ recorded: true, marked: true, stale: false });
    expect([await state(items[0]!.messageId), await state(items[1]!.messageId)]).toEqual(['sent', 'sending']);
    const r2 = await advance(db, { accountId: A, epoch, now, outcome: { kind: 'retry', messageId: items[1]!.messageId, consumed: true, reason: 'temporary', nextAttemptAt: now } });
    expect(r2.recorded).toBe(true);
    const usage = (await accountUsage(db, [A], now)).get(A)!;
    expect(usage).toMatchObject({ sentToday: 1, open: 1, inFlight: 0 });
  });

  it('given a send that failed, then it is not counted against the limit', async () => {
    const items = await queue(1);
    const { epoch } = await startEpoch(db, A, now);
    await claimBatch(db, { accountId: A, epoch, items, dailyLimit: 10, now });
    await advance(db, { accountId: A, epoch, now, next: items[0]!.messageId });
    await advance(db, { accountId: A, epoch, now, outcome: { kind: 'failed', messageId: items[0]!.messageId, reason: 'unknown_user', replyCode: 550 } });
    expect((await accountUsage(db, [A], now)).get(A)!.sentToday).toBe(0);
  });

  it('given many calls in one batch, then each row ends as the single-call ledger_advance leaves it, and quota counts per account', async () => {
    const B = 'acc_01JBBBBBBBBBBBBBBBBBBBBBBB';
    const kinds: Array<(id: string) => Outcome> = [
      (id) => ({ kind: 'sent', messageId: id, headerMessageId: '<s@x>', replyCode: 250, reply: '250 ok' }),
      (id) => ({ kind: 'retry', messageId: id, consumed: true, reason: 'greylisted', replyCode: 451, reply: '451 later', nextAttemptAt: new Date(now.getTime() + 60_000) }),
      (id) => ({ kind: 'retry', messageId: id, consumed: false, reason: 'account_unreachable', nextAttemptAt: new Date(now.getTime() + 30_000) }),
      (id) => ({ kind: 'failed', messageId: id, reason: 'unknown_user', replyCode: 550, reply: '550 no such user' }),
      (id) => ({ kind: 'uncertain', messageId: id, reason: 'connection_lost' }),
    ];
    // Two accounts, the same steps: account A through the batch, account B call by call
    // through ledger_advance itself (0002), then the rows compared column by column.
    const steps = async (accountId: string, apply: (inputs: AdvanceInput[]) => Promise<Array<{ recorded: boolean; marked: boolean; stale: boolean }>>) => {
      const items = await queue(kinds.length + 1);
      await db.query(sql`UPDATE deliveries SET account_id = ${accountId} WHERE message_id = ANY(${items.map((i) => i.messageId)}::text[])`);
      const { epoch } = await startEpoch(db, accountId, now);
      await claimBatch(db, { accountId, epoch, items, dailyLimit: 100, now });
      // Every row `sending` first (one mark each), then every outcome at once with the last row's mark.
      for (const it of items.slice(0, -1)) await apply([{ accountId, epoch, now, next: it.messageId }]);
      const calls = items.slice(0, -1).map((it, i): AdvanceInput => ({ accountId, epoch, now, outcome: kinds[i]!(it.messageId) }));
      calls.push({ accountId, epoch: epoch + 1, now, next: items.at(-1)!.messageId }); // a stale mark: refused
      calls.push({ accountId, epoch, now, next: items.at(-1)!.messageId });
      const results = await apply(calls);
      const rows = await db.query(sql`SELECT state, claim_epoch, send_failures, outcome_at, reason, reply_code, reply, header_message_id, next_attempt_at, sending_at
                                      FROM deliveries WHERE message_id = ANY(${items.map((i) => i.messageId)}::text[]) ORDER BY message_id`);
      return { results, rows, usage: (await accountUsage(db, [accountId], now)).get(accountId)! };
    };
    const batched = await steps(A, (inputs) => Promise.all(inputs.map((input) => batcher.advance(input))));
    const single = await steps(B, async (inputs) => {
      const out = [];
      for (const i of inputs) {
        const o = i.outcome;
        const [r] = await db.query(sql`SELECT recorded, marked, current_epoch FROM ledger_advance(${i.accountId}, ${i.epoch}, ${i.now}, ${o?.kind ?? null}, ${o?.messageId ?? null},
          ${o && 'replyCode' in o ? (o.replyCode ?? null) : null}, ${o && 'reply' in o ? (o.reply ?? null) : null}, ${o?.kind === 'sent' ? o.headerMessageId : null},
          ${o && 'reason' in o ? o.reason : null}, ${o?.kind === 'retry' ? o.nextAttemptAt : null}, ${o?.kind === 'retry' ? o.consumed : null}, ${i.next ?? null})`);
        out.push({ recorded: r!.recorded, marked: r!.marked, stale: i.next ? Number(r!.current_epoch) !== i.epoch : false });
      }
      return out;
    });
    expect(batched.results).toEqual(single.results);
    expect(batched.results.map((r) => r.recorded)).toEqual([true, true, true, true, true, false, false]);
    expect(batched.results.slice(-2).map((r) => r.marked)).toEqual([false, true]);
    expect(batched.rows).toEqual(single.rows);
    expect(batched.rows.map((r) => r.state)).toEqual(['sent', 'retry_wait', 'retry_wait', 'failed', 'uncertain', 'sending']);
    expect({ ...batched.usage, accountId: B }).toEqual(single.usage);
    expect(batched.usage.sentToday).toBe(2); // the sent and the uncertain
  });

  it('given a large ledger of open rows, then ledger_advance_many reaches rows only by key, with a plan made once', async () => {
    // Another account's 3,000 queued rows: a plan that found `sending` or `claimed` rows
    // through deliveries_open (account_id, state) would walk all of them at every call. Which
    // plan the planner picks depends on statistics (bench:send's fresh ledger got the walk;
    // this one does not); the function's settings rule it out whatever they are.
    const B = 'acc_01JBBBBBBBBBBBBBBBBBBBBBBB';
    const others = await queue(3_000);
    await db.query(sql`UPDATE deliveries SET account_id = ${B}, state = 'assigned' WHERE message_id = ANY(${others.map((o) => o.messageId)}::text[])`);
    const items = await queue(12);
    const { epoch } = await startEpoch(db, A, now);
    await claimBatch(db, { accountId: A, epoch, items, dailyLimit: 100, now });
    await db.query(sql`ANALYZE deliveries`); // `sending` rare, as autovacuum would find it
    const call = (i: number) => advanceCalls([{
      accountId: A,
      epoch,
      now,
      ...(i > 0 ? { outcome: { kind: 'sent' as const, messageId: items[i - 1]!.messageId, headerMessageId: '<s@x>', replyCode: 250, reply: '250 ok' } } : {}),
      ...(i < items.length ? { next: items[i]!.messageId } : {}),
    }]);
    // One connection, one transaction: the backend's own statistics counters (read before and
    // after: they may still hold earlier transactions' counts), and plpgsql's plan cache past
    // the five calls after which it may switch to a generic plan.
    const counters = sql`
      SELECT pg_stat_get_xact_tuples_returned('deliveries_open'::regclass)::int AS open_index_entries,
             pg_stat_get_xact_numscans('deliveries'::regclass)::int AS ledger_seq_scans,
             pg_stat_get_xact_numscans('deliveries_pkey'::regclass)::int AS key_scans`;
    const counted = await db.tx(async (tx) => {
      const [before] = await tx.query(counters);
      const results = [];
      for (let i = 0; i <= items.length; i++) {
        results.push(...(await tx.query(sql`SELECT recorded, marked FROM ledger_advance_many(${call(i)}::jsonb)`)));
      }
      const [after] = await tx.query(counters);
      const delta = (k: string) => (after![k] as number) - (before![k] as number);
      return { results, open_index_entries: delta('open_index_entries'), ledger_seq_scans: delta('ledger_seq_scans'), key_scans: delta('key_scans') };
    });
    expect(counted.results.slice(1).every((r) => r.recorded === true)).toBe(true);
    expect(counted.results.slice(0, -1).every((r) => r.marked === true)).toBe(true);
    expect(counted.open_index_entries).toBe(0);
    expect(counted.ledger_seq_scans).toBe(0);
    expect(counted.key_scans).toBeGreaterThan(0);
    const [p] = await db.query(sql`SELECT proconfig FROM pg_proc WHERE proname = 'ledger_advance_many'`);
    expect(p!.proconfig).toEqual(expect.arrayContaining(['plan_cache_mode=force_generic_plan', 'enable_seqscan=off']));
    expect((await db.query(sql`SELECT count(*)::int AS n FROM deliveries WHERE account_id = ${A} AND state = 'sent'`))[0]!.n).toBe(12);
  });

  it('given an outcome it does not know, then the whole batch is refused', async () => {
    const items = await queue(1);
    const { epoch } = await startEpoch(db, A, now);
    await claimBatch(db, { accountId: A, epoch, items, dailyLimit: 10, now });
    await advance(db, { accountId: A, epoch, now, next: items[0]!.messageId });
    const bogus = { kind: 'bounced', messageId: items[0]!.messageId } as unknown as Outcome;
    await expect(advance(db, { accountId: A, epoch, now, outcome: bogus })).rejects.toThrow(/unknown outcome/);
    expect(await state(items[0]!.messageId)).toBe('sending');
  });
});

