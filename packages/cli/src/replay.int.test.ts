import { publishEvent } from '@postbus/bus';
import { newId, streamName, subjectsFor, type MailEvent } from '@postbus/contracts';
import { sql } from '@postbus/db';
import { MAIL_LOCK_KEY } from '@postbus/projector';
import { sharedNatsUrl, sleep, startTestEnvironment, type TestEnvironment } from '@postbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReplay } from './testing/captured.js';

let env: TestEnvironment;
const A = newId('acc');
const B = newId('acc');
let between: Date;

const queued = (accountId: string, messageId: string, at: string): MailEvent => ({
  id: `${messageId}.1.1.queued`,
  type: 'EmailQueued',
  version: 1,
  occurredAt: at,
  accountId,
  messageId,
  data: { assignment: 1, attempt: 1, kind: 'bulk', to: 'someone@example.org', subject: 'Hello', requestedAt: at },
});
const sent = (accountId: string, messageId: string, at: string): MailEvent => ({
  id: `${messageId}.1.1.sent`,
  type: 'EmailSent',
  version: 1,
  occurredAt: at,
  accountId,
  messageId,
  data: { assignment: 1, attempt: 1, startedAt: at, headerMessageId: `<${messageId}@postbus>`, replyCode: 250, response: '250 2.0.0 OK' },
});

beforeAll(async () => {
  env = await startTestEnvironment('cli-replay', { poolSize: 3 });
  const s = subjectsFor(env.ns);
  const at = '2025-06-01T10:00:00.000Z';
  // First batch: A queues and sends two messages, B queues one; then a message that is not an event.
  for (let i = 0; i < 2; i++) {
    const m = newId('msg');
    await publishEvent(env.bus, s.mail(A, 'queued'), queued(A, m, at));
    await publishEvent(env.bus, s.mail(A, 'sent'), sent(A, m, at));
  }
  await publishEvent(env.bus, s.mail(B, 'queued'), queued(B, newId('msg'), at));
  await env.bus.js.publish(s.mail(A, 'queued'), '{"not":"an event"}');
  await sleep(150);
  between = new Date();
  await sleep(150);
  // Second batch: one more message on each account.
  await publishEvent(env.bus, s.mail(A, 'queued'), queued(A, newId('msg'), at));
  await publishEvent(env.bus, s.mail(B, 'queued'), queued(B, newId('msg'), at));
});

afterAll(async () => {
  await env.close();
});

function cli(...argv: string[]) {
  return runReplay<MailEvent>({ databaseUrl: env.testDb.url, natsUrl: sharedNatsUrl(), namespace: env.ns.prefix }, argv);
}

describe('postbus replay', () => {
  it('writes one account’s events in order as JSON lines and reports the invalid one', async () => {
    const out = await cli('replay', '--account', A);
    expect(out.code).toBe(1);
    expect(out.lines.map((l) => l.event.type)).toEqual(['EmailQueued', 'EmailSent', 'EmailQueued', 'EmailSent', 'EmailQueued']);
    expect(out.lines.every((l) => l.event.accountId === A && l.subject.startsWith(`${env.ns.prefix}.mail.${A}.`))).toBe(true);
    const seqs = out.lines.map((l) => l.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    expect(out.stderr).toMatch(new RegExp(`invalid event ${streamName(env.ns, 'MAIL')} #6 ${env.ns.prefix}\\.mail\\.${A}\\.queued: `));
    expect(out.stderr).toContain('replayed 5 event(s) written of 6 read, 1 invalid');
    expect(out.stderr).toMatch(/\[##########\] 100% replay [A-Z0-9]+_MAIL 8\/8/);
  });

  it('filters by subject (namespace added) and by event type', async () => {
    const bySubject = await cli('replay', '--subject', `mail.${B}.>`);
    expect(bySubject.code).toBe(0);
    expect(bySubject.lines.map((l) => [l.event.type, l.event.accountId])).toEqual([
      ['EmailQueued', B],
      ['EmailQueued', B],
    ]);
    const byType = await cli('replay', '--stream', 'mail', '--type', 'EmailSent');
    expect(byType.lines.map((l) => l.event.type)).toEqual(['EmailSent', 'EmailSent']);
  });

  it('reads a time range from the stored times (--since starts the consumer there, --until stops it)', async () => {
    const after = await cli('replay', '--stream', 'MAIL', '--since', between.toISOString());
    expect(after.code).toBe(0);
    expect(after.lines.map((l) => l.event.accountId)).toEqual([A, B]);
    const before = await cli('replay', '--stream', 'MAIL', '--until', between.toISOString());
    expect(before.lines).toHaveLength(5);
    expect(before.lines.every((l) => new Date(l.time) <= between)).toBe(true);
    expect((await cli('replay', '--stream', 'MAIL', '--since', '1m')).lines).toHaveLength(8 - 1);
  });

  it('re-applies events to one projection under its lock, and leaves no consumer behind', async () => {
    // Someone (the live projector, a rebuild) holds the mail projection's lock: the replay waits.
    let replay: ReturnType<typeof cli> | undefined;
    await env.db.task(async (conn) => {
      await conn.query(sql`SELECT pg_advisory_lock(${MAIL_LOCK_KEY})`);
      replay = cli('replay', '--into', 'mail', '--account', B);
      const early = await Promise.race([replay.then(() => 'finished'), sleep(700).then(() => 'waiting')]);
      expect(early).toBe('waiting');
      await conn.query(sql`SELECT pg_advisory_unlock(${MAIL_LOCK_KEY})`);
    });
    const out = await replay!;
    expect(out.code).toBe(0);
    expect(out.lines).toEqual([]);
    expect(out.stderr).toContain('replayed 2 event(s) applied to mail of 2 read, 0 invalid');
    const rows = await env.db.query(sql`SELECT account_id, status FROM email_queue ORDER BY message_id`);
    expect(rows).toEqual([
      { account_id: B, status: 'queued' },
      { account_id: B, status: 'queued' },
    ]);
    // Applying again changes nothing: rows are keyed by message and event id.
    expect((await cli('replay', '--into', 'mail', '--account', B)).code).toBe(0);
    expect(await env.db.query(sql`SELECT count(*)::int AS n FROM email_queue`)).toEqual([{ n: 2 }]);

    const consumers = await env.bus.jsm.consumers.list(streamName(env.ns, 'MAIL')).next();
    expect(consumers.filter((c) => c.config.durable_name)).toEqual([]);
    expect(consumers).toEqual([]);
  });

  it('refuses what it cannot do, with the usage', async () => {
    expect((await cli('replay')).stderr).toContain('say what to replay');
    expect((await cli('replay', '--into', 'mail', '--stream', 'OPS')).stderr).toMatch(/projection mail does not read OPS \(it reads REQUESTS, MAIL\)/);
    const bad = await cli('replay', '--stream', 'MAIL', '--since', 'yesterday');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--since takes an ISO time');
  });
});
