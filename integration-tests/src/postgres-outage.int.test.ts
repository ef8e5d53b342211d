import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@postbus/db';
import { sleep, startPostgresServer, type PostgresServer } from '@postbus/testing';
import { ledgerStates, registerAccount, requestMessages, startWorld, type World, waitUntilSettled } from './fixtures.js';

describe('Postgres stopped mid-run (its own server) and started again', () => {
  let pg: PostgresServer;
  let w: World;
  beforeAll(async () => {
    pg = await startPostgresServer();
    w = await startWorld({ databaseUrl: pg.url, users: ['kim', 'lou'], sinkDelayMs: 10 });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
    await pg?.destroy();
  });

  it('pauses sending while it is away, resumes by itself, loses nothing and sends nothing twice', async () => {
    await registerAccount(w, 'kim', 10_000);
    await registerAccount(w, 'lou', 10_000);
    await requestMessages(w, 300, 'p');
    await w.sink.waitFor((t) => t.length >= 50, 60_000);
    await pg.stop();
    const duringOutage = w.sink.transactions.length;
    await sleep(3_000);
    // Nothing may be sent while no claim can be made (no limit or suppression is ever guessed);
    // at most the message of each account that was already marked `sending`.
    expect(w.sink.transactions.length - duringOutage).toBeLessThanOrEqual(2);
    await pg.start();
    await waitUntilSettled(w, 300, 150_000, 'messages did not all reach an outcome after Postgres came back');
    expect(w.sink.duplicates()).toEqual([]);
    expect(await ledgerStates(w.db)).toEqual({ sent: 300 });
    expect(new Set(w.sink.transactions.map((t) => t.messageId)).size).toBe(300);
    const [stuck] = await w.db.query(sql`SELECT count(*)::int AS n FROM deliveries WHERE state = 'sending'`);
    expect(stuck!.n).toBe(0);
  }, 240_000);
});
