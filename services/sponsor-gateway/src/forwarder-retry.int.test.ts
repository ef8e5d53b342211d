import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectBus, deleteStreams, ensureStreams, type Bus } from '@postbus/bus';
import { SIGNATURE_HEADER, newSponsorScopedId, streamName, streamSpecs, verifyLeadSignature } from '@postbus/contracts';
import { connectDatabase, insertLead, leadPayloadAad, migrate, putSecret, retryFailedLead, sql, type Database } from '@postbus/db';
import { Keyring, generateMasterKey, parseMasterKeys } from '@postbus/secrets';
import { silentLogger } from '@postbus/telemetry';
import { createTestDatabase, sharedNatsUrl, testNamespace, waitFor, type TestDatabase } from '@postbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeadForwarder } from './adapters/forwarder.js';

/**
 * A lead given up, then retried by an operator (the admin's POST /v1/leads/:id/retry runs
 * retryFailedLead): it goes again with a fresh round of attempts, the same body and the same
 * Idempotency-Key, and each give-up and the final delivery are events of their own.
 */
const ns = testNamespace();
const specs = streamSpecs(ns);
const SECRET = 'whsec_retry_test_secret';
let bus: Bus;
let db: Database;
let testDb: TestDatabase;
let server: Server;
let port = 0;
const keyring = new Keyring(parseMasterKeys(`k1:${generateMasterKey()}`), 'k1');
const received: Array<{ body: string; headers: IncomingHttpHeaders; answered: number }> = [];
/** The statuses the sponsor answers, in turn; 200 once they run out. */
let script: number[] = [];

beforeAll(async () => {
  bus = await connectBus({ servers: [sharedNatsUrl()], name: `gateway-test-${ns.prefix}`, namespace: ns });
  await ensureStreams(bus, specs);
  testDb = await createTestDatabase();
  db = connectDatabase({ url: testDb.url, poolSize: 3 });
  await migrate(db);
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const answered = script.shift() ?? 200;
      received.push({ body, headers: req.headers, answered });
      res.writeHead(answered, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await deleteStreams(bus, specs);
  await bus?.close();
  await db?.dispose();
  await testDb?.drop();
});

async function sponsorEvents(): Promise<Array<{ type: string; id: string; data: { attempts?: number } }>> {
  const name = streamName(ns, 'SPONSORS');
  const info = await bus.jsm.streams.info(name);
  const out = [];
  for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
    const m = await bus.jsm.streams.getMessage(name, { seq });
    if (m) out.push(JSON.parse(new TextDecoder().decode(m.data)) as { type: string; id: string; data: { attempts?: number } });
  }
  return out;
}

describe('retrying a failed lead', () => {
  it('goes again with a fresh round, the same body and key, and ends forwarded', async () => {
    const sponsorId = newSponsorScopedId('spn', Date.now());
    const offerId = newSponsorScopedId('off', Date.now());
    const leadId = newSponsorScopedId('led', Date.now());
    await putSecret(db, keyring, 'sec_retry', 'sponsor_signing', SECRET);
    await db.query(sql`INSERT INTO sponsors (id, name, endpoint_url, signing_secret_id) VALUES (${sponsorId}, 'Retry', ${`http://127.0.0.1:${port}/leads`}, 'sec_retry')`);
    await db.query(sql`INSERT INTO sponsor_offers (id, sponsor_id, name, landing_url) VALUES (${offerId}, ${sponsorId}, 'Offer', 'https://landing.example')`);
    const body = JSON.stringify({ id: leadId, sponsorId, offerId, email: 'reader@example.org', consent: { text: 'yes', time: '2026-01-01T00:00:00Z', source: 'test' } });
    await insertLead(db, { id: leadId, sponsorId, offerId, scope: `sponsor:${sponsorId}`, idempotencyKey: 'k', requestHash: 'h', payload: keyring.encrypt(body, leadPayloadAad(leadId)), receivedAt: new Date() });

    const forwarder = new LeadForwarder({ bus, db, cipher: keyring, log: silentLogger() }, { pollMs: 20, retryBaseMs: 10, maxAttempts: 2, timeoutMs: 2_000, allowPrivateEndpoints: true });
    const state = async () => (await db.query(sql`SELECT state, attempts FROM sponsor_leads WHERE id = ${leadId}`))[0] as { state: string; attempts: number };
    const drive = (until: string) =>
      waitFor(
        async () => {
          await forwarder.runOnce();
          return (await state()).state === until;
        },
        { timeoutMs: 10_000, message: `lead not ${until}` },
      );

    // Round 1: two 503s, and the forwarder gives up.
    script = [503, 503];
    await drive('failed');
    expect(await state()).toEqual({ state: 'failed', attempts: 2 });
    expect(await retryFailedLead(db, leadId, new Date())).toMatchObject({ kind: 'retrying', lead: { state: 'pending', attempts: 2 } });
    expect(await retryFailedLead(db, leadId, new Date())).toEqual({ kind: 'not_failed', state: 'pending' });

    // Round 2: one more 503 is within the new round's two attempts; then the sponsor takes it.
    script = [503];
    await drive('forwarded');
    expect(await state()).toEqual({ state: 'forwarded', attempts: 4 });
    expect(received.map((r) => r.answered)).toEqual([503, 503, 503, 200]);
    for (const r of received) {
      expect(r.body).toBe(body);
      expect(r.headers['idempotency-key']).toBe(leadId);
      expect(verifyLeadSignature(SECRET, r.body, String(r.headers[SIGNATURE_HEADER]), Math.floor(Date.now() / 1000))).toBe(true);
    }
    expect((await db.query(sql`SELECT payload FROM sponsor_leads WHERE id = ${leadId}`))[0]!.payload).toBeNull();
    expect(await retryFailedLead(db, leadId, new Date())).toEqual({ kind: 'not_failed', state: 'forwarded' });
    expect(await retryFailedLead(db, newSponsorScopedId('led', Date.now()), new Date())).toEqual({ kind: 'not_found' });

    const events = (await sponsorEvents()).filter((e) => e.type.startsWith('Lead'));
    expect(events.map((e) => [e.type, e.data.attempts])).toEqual([['LeadForwardingFailed', 2], ['LeadForwarded', 4]]);
  });
});
