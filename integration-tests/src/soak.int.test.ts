import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@postbus/db';
import { seededRandom, sleep, waitFor, type ServiceName } from '@postbus/testing';
import { expectSettledWithoutDuplicates, registerAccount, startWorld, type World } from './fixtures.js';

const SEED = Number(process.env.POSTBUS_SOAK_SEED ?? 20261129);
const USERS = ['pia', 'quin', 'rui', 'sol'];
const TOTAL = 2_400;
const CHUNK = 60;
const KILLS = 10;

/**
 * Every service, the admin API included, killed with SIGKILL again and again while requests
 * come in and mail flows; the client retries each request with its Idempotency-Key, as a
 * client of the API should. Nothing accepted is lost, nothing is accepted twice, nothing is
 * sent twice.
 */
describe('processes killed at random, again and again', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ users: USERS, sinkDelayMs: 3 });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  it('loses nothing, accepts nothing twice, sends nothing twice', async () => {
    for (const u of USERS) await registerAccount(w, u, 100_000);
    const next = seededRandom(SEED); // the same kills in the same order at every run
    const accepted = new Map<number, string[]>();
    let retries = 0;
    let inFlight = 0;
    let midRequest = 0;

    const post = async (chunk: number): Promise<void> => {
      const messages = Array.from({ length: CHUNK }, (_, i) => ({ to: `s${chunk * CHUNK + i}@receiver.test`, subject: `Soak ${chunk * CHUNK + i}`, text: 'Soak.' }));
      for (;;) {
        inFlight++;
        const res = await w.admin
          .request('POST', '/v1/messages', { messages }, { 'idempotency-key': `soak-${SEED}-${chunk}` })
          .catch(() => undefined)
          .finally(() => inFlight--);
        if (res?.status === 202) {
          accepted.set(chunk, (res.body.messages as Array<{ id: string }>).map((m) => m.id));
          return;
        }
        // No answer (the admin API died or is starting), or a retryable refusal: the same
        // request again, with the same key. A key whose request died in flight answers 409
        // `idempotency_in_progress` until it is taken over.
        const retryable = !res || res.status >= 500 || (res.status === 409 && res.body?.code === 'idempotency_in_progress');
        if (!retryable) throw new Error(`chunk ${chunk}: ${res.status} ${JSON.stringify(res.body)}`);
        retries++;
        // As the API asks: after its Retry-After, if it gave one.
        const after = Number(res?.headers.get('retry-after'));
        await sleep(Number.isFinite(after) && after > 0 ? after * 1000 : 200);
      }
    };
    const posting = (async () => {
      for (let c = 0; c < TOTAL / CHUNK; c++) {
        await post(c);
        await sleep(200);
      }
    })();

    await w.sink.waitFor((t) => t.length >= 20, 60_000);
    const victims: ServiceName[] = ['admin', 'orchestrator', 'sender', 'projector'];
    const killed: Record<string, number> = {};
    for (let k = 0; k < KILLS; k++) {
      const v = victims[Math.floor(next() * victims.length)]!;
      killed[v] = (killed[v] ?? 0) + 1;
      // The admin API dies in the middle of a request when one is on its way.
      if (v === 'admin') {
        await waitFor(async () => inFlight > 0, { timeoutMs: 2_000, intervalMs: 1 }).catch(() => undefined);
        if (inFlight > 0) {
          midRequest++;
          await sleep(5 + Math.floor(next() * 35)); // the request reaches it, and is part-way through
        }
      }
      await w.platform.services.get(v)!.kill9();
      await sleep(100 + Math.floor(next() * 400));
      await w.platform.startService(v);
      await sleep(300 + Math.floor(next() * 900));
    }
    await posting;

    const ids = [...accepted.values()].flat();
    expect(new Set(ids).size).toBe(TOTAL);
    // Settled, none twice at the server, the ledger and the server agreeing.
    const states = await expectSettledWithoutDuplicates(w, TOTAL, 180_000);
    const rows = await w.db.query(sql`SELECT message_id FROM deliveries`);
    expect(new Set(rows.map((r) => r.message_id as string))).toEqual(new Set(ids));
    expect((states.sent ?? 0) + (states.uncertain ?? 0)).toBe(TOTAL);
    // At most one message per account is between its mark and its outcome when a sender dies.
    expect(states.uncertain ?? 0).toBeLessThanOrEqual((killed.sender ?? 0) * USERS.length);

    await waitFor(
      async () => {
        const [q] = await w.db.query(sql`SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, count(*) FILTER (WHERE status = 'uncertain')::int AS uncertain, count(*)::int AS n FROM email_queue`);
        return q?.sent === (states.sent ?? 0) && q?.uncertain === (states.uncertain ?? 0) && q?.n === TOTAL;
      },
      { timeoutMs: 30_000, message: 'email_queue does not agree with the ledger' },
    );
    const [dup] = await w.db.query(sql`SELECT count(*)::int AS n FROM (SELECT message_id FROM send_logs WHERE type IN ('EmailSent', 'EmailRequested') GROUP BY message_id, type HAVING count(*) > 1) d`);
    expect(dup!.n).toBe(0);
    console.info(`soak: seed ${SEED}, kills ${JSON.stringify(killed)}, ${retries} request retries (${midRequest} kills of the admin API with a request in flight), ledger ${JSON.stringify(states)}`);
  }, 300_000);
});
