import { publishEvent } from '@postbus/bus';
import { emailsQueued, emailsSent, newId, subjectsFor, type EmailQueued, type EmailSent, type PostbusEvent } from '@postbus/contracts';
import { sql } from '@postbus/db';
import { sharedNatsUrl, startTestEnvironment, type TestEnvironment } from '@postbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReplay } from './testing/captured.js';

// Sends stored both ways: one EmailSent alone, then two in one EmailsSent (POSTBUS_SENDS_PER_EVENT > 1).
let env: TestEnvironment;
const A = newId('acc');
const messages = [newId('msg'), newId('msg'), newId('msg')];
const at = '2025-06-01T10:00:00.000Z';
// Queueings stored as one EmailsQueued, on another account (POSTBUS_QUEUED_PER_EVENT > 1).
const B = newId('acc');
const queuedTogether = [newId('msg'), newId('msg')];
const queued = (messageId: string): EmailQueued => ({
  id: `${messageId}.1.1.queued`,
  type: 'EmailQueued',
  version: 1,
  occurredAt: at,
  accountId: B,
  messageId,
  data: { assignment: 1, attempt: 1, kind: 'bulk', to: 'someone@example.org', subject: 'Hello', requestedAt: at },
});

const sent = (messageId: string): EmailSent => ({
  id: `${messageId}.1.1.sent`,
  type: 'EmailSent',
  version: 1,
  occurredAt: at,
  accountId: A,
  messageId,
  data: { assignment: 1, attempt: 1, startedAt: at, headerMessageId: `<${messageId}@postbus>`, replyCode: 250, response: '250 2.0.0 OK' },
});

beforeAll(async () => {
  env = await startTestEnvironment('cli-replay-sends', { poolSize: 3 });
  const s = subjectsFor(env.ns);
  for (const m of messages) {
    await publishEvent(env.bus, s.mail(A, 'queued'), {
      id: `${m}.1.1.queued`,
      type: 'EmailQueued',
      version: 1,
      occurredAt: at,
      accountId: A,
      messageId: m,
      data: { assignment: 1, attempt: 1, kind: 'bulk', to: 'someone@example.org', subject: 'Hello', requestedAt: at },
    });
  }
  await publishEvent(env.bus, s.mail(A, 'sent'), sent(messages[0]!));
  await publishEvent(env.bus, s.mail(A, 'sent'), emailsSent(A, [sent(messages[1]!), sent(messages[2]!)]));
  await publishEvent(env.bus, s.mail(B, 'queued'), emailsQueued(B, queuedTogether.map(queued)));
});

afterAll(async () => {
  await env.close();
});

function cli(...argv: string[]) {
  return runReplay<PostbusEvent>({ databaseUrl: env.testDb.url, natsUrl: sharedNatsUrl(), namespace: env.ns.prefix }, argv);
}

describe('postbus replay of sends recorded many to an event', () => {
  it('writes the log as stored when no type is asked for', async () => {
    const out = await cli('replay', '--account', A);
    expect(out.code).toBe(0);
    expect(out.lines.map((l) => l.event.type)).toEqual(['EmailQueued', 'EmailQueued', 'EmailQueued', 'EmailSent', 'EmailsSent']);
  });

  it('answers --type EmailSent with every send, each as the EmailSent it stands for', async () => {
    const out = await cli('replay', '--stream', 'MAIL', '--type', 'EmailSent');
    expect(out.code).toBe(0);
    expect(out.lines.map((l) => l.event)).toEqual(messages.map(sent));
    // The two from the batch carry the batch's place in the log.
    expect(out.lines[1]!.seq).toBe(out.lines[2]!.seq);
    expect(out.stderr).toContain('replayed 3 event(s) written of 6 read, 0 invalid');
    expect((await cli('replay', '--stream', 'MAIL', '--type', 'EmailsSent')).lines.map((l) => l.event.type)).toEqual(['EmailsSent']);
  });

  it('re-applies the batch whole to the projection when sends are asked for', async () => {
    expect((await cli('replay', '--into', 'mail', '--account', A, '--type', 'EmailQueued')).code).toBe(0);
    const out = await cli('replay', '--into', 'mail', '--account', A, '--type', 'EmailSent');
    expect(out.code).toBe(0);
    const rows = await env.db.query(sql`SELECT message_id, status FROM email_queue ORDER BY message_id`);
    expect(rows).toEqual([...messages].sort().map((m) => ({ message_id: m, status: 'sent' })));
    const [logs] = await env.db.query(sql`SELECT count(*)::int AS n FROM send_logs WHERE type = 'EmailSent'`);
    expect(logs).toEqual({ n: 3 });
  });

  it('answers --type EmailQueued with each queueing of an EmailsQueued, and folds it into the read tables', async () => {
    const out = await cli('replay', '--account', B, '--type', 'EmailQueued');
    expect(out.code).toBe(0);
    expect(out.lines.map((l) => l.event)).toEqual(queuedTogether.map(queued));
    expect(out.lines[0]!.seq).toBe(out.lines[1]!.seq);
    expect((await cli('replay', '--into', 'mail', '--account', B, '--type', 'EmailQueued')).code).toBe(0);
    const rows = await env.db.query(sql`SELECT message_id, account_id, status FROM email_queue WHERE account_id = ${B} ORDER BY message_id`);
    expect(rows).toEqual([...queuedTogether].sort().map((m) => ({ message_id: m, account_id: B, status: 'queued' })));
  });
});
