import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@postbus/db';
import { sleep } from '@postbus/testing';
import { ledgerStates, registerAccount, requestMessages, startWorld, type World, waitUntilSettled } from './fixtures.js';

/** Every message has an outcome or is `uncertain`; the server saw none twice; the ledger and the server agree. */
async function expectSettledWithoutDuplicates(w: World, total: number): Promise<Record<string, number>> {
  await waitUntilSettled(w, total, 120_000, 'messages did not all reach an outcome');
  const states = await ledgerStates(w.db);
  expect(w.sink.duplicates()).toEqual([]);
  const atServer = new Set(w.sink.transactions.map((t) => t.messageId));
  const rows = await w.db.query(sql`SELECT message_id, state, header_message_id FROM deliveries`);
  for (const r of rows) {
    if (r.state === 'sent') expect(atServer.has(r.header_message_id)).toBe(true);
  }
  const known = new Set(rows.filter((r) => r.state === 'sent' || r.state === 'uncertain').map((r) => `<${r.message_id}@sender.test>`));
  for (const id of atServer) expect(known.has(id!)).toBe(true);
  return states;
}

describe('kill -9 of the sender mid-run', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ users: ['erin', 'frank'], sinkDelayMs: 15 });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  it('reaches one outcome per message (or uncertain) and the SMTP server sees no message twice', async () => {
    await registerAccount(w, 'erin', 10_000);
    await registerAccount(w, 'frank', 10_000);
    await requestMessages(w, 400, 'k');
    await w.sink.waitFor((t) => t.length >= 60, 60_000);
    await w.platform.services.get('sender')!.kill9();
    const atKill = w.sink.transactions.length;
    await sleep(500);
    await w.platform.startService('sender');
    const states = await expectSettledWithoutDuplicates(w, 400);
    // At most one message per account was between "sending" and its outcome at the kill.
    expect(states.uncertain ?? 0).toBeLessThanOrEqual(2);
    expect((states.sent ?? 0) + (states.uncertain ?? 0)).toBe(400);
    expect(atKill).toBeLessThan(400);
  }, 180_000);
});
