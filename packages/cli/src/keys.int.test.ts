import {
  connectDatabase, getSecret, insertLead, leadPayloadAad, markLeadFailed, markLeadForwarded, migrate, putSecret, rotateLeadPayloads, rotateSecrets, sql, type Database,
} from '@postbus/db';
import { Keyring, generateMasterKey, keyIdOf, parseMasterKeys } from '@postbus/secrets';
import { createTestDatabase, type TestDatabase } from '@postbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli.js';

let db: Database;
let testDb: TestDatabase;
const K1 = `k1:${generateMasterKey()}`;
const K2 = `k2:${generateMasterKey()}`;
const plain = (i: number) => `smtp-password-${i}-${'x'.repeat(i % 7)}`;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = connectDatabase({ url: testDb.url, poolSize: 3 });
  await migrate(db);
});
afterAll(async () => {
  await db.dispose();
  await testDb.drop();
});

const leadId = (i: number) => `led_${String(i).padStart(26, '0')}`;
const leadBody = (i: number) => JSON.stringify({ id: leadId(i), email: `reader${i}@example.org`, consent: { text: 'yes', time: '2026-01-01T00:00:00Z', source: 'test' } });

/** A sponsor, an offer and leads whose payloads are encrypted under `cipher`, as the sponsor gateway stores them. */
async function storeLeads(cipher: Keyring, from: number, to: number): Promise<void> {
  await db.query(sql`INSERT INTO sponsors (id, name, signing_secret_id) VALUES ('spn_keys', 'Keys test', 'sec_none') ON CONFLICT DO NOTHING`);
  await db.query(sql`INSERT INTO sponsor_offers (id, sponsor_id, name, landing_url) VALUES ('off_keys', 'spn_keys', 'Offer', 'https://landing.example') ON CONFLICT DO NOTHING`);
  for (let i = from; i < to; i++) {
    const inserted = await insertLead(db, {
      id: leadId(i), sponsorId: 'spn_keys', offerId: 'off_keys', scope: 'sponsor:spn_keys', idempotencyKey: `k${i}`, requestHash: `h${i}`,
      payload: cipher.encrypt(leadBody(i), leadPayloadAad(leadId(i))), receivedAt: new Date(),
    });
    expect(inserted.kind).toBe('new');
  }
}

async function cli(keys: string, ...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const env = { POSTBUS_DATABASE_URL: testDb.url, POSTBUS_MASTER_KEYS: keys, POSTBUS_LOG_LEVEL: 'warn' };
  const code = await runCli(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env });
  return { code, stdout, stderr };
}

describe('postbus keys rotate', () => {
  it('re-encrypts every secret under the new key; a ring without the old key reads them all', async () => {
    const k1 = new Keyring(parseMasterKeys(K1), 'k1');
    for (let i = 0; i < 250; i++) await putSecret(db, k1, `sec_${String(i).padStart(26, '0')}`, i % 2 ? 'smtp_password' : 'dkim_key', plain(i));
    // Leads the gateway holds: 30 pending, one given up (kept for a retry), one forwarded (its payload dropped).
    await storeLeads(k1, 0, 32);
    await markLeadFailed(db, leadId(30), 'http 410');
    await markLeadForwarded(db, leadId(31), new Date());

    const out = await cli(`${K1},${K2}`, 'keys', 'rotate', '--to', 'k2');
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain('rotated 250 of 250 secret(s) to k2');
    expect(out.stdout).toContain('rotated 31 of 31 stored lead(s) to k2');
    expect(out.stdout).toContain('secrets by key now: k2 250');
    expect(out.stdout).toContain('stored leads by key now: k2 31');
    expect(out.stdout).toContain('every secret and stored lead is under k2');
    expect(out.stderr).toContain('rotating secrets to k2: 250/250');
    expect(out.stderr).toContain('rotating stored leads to k2: 31/31');
    expect(out.stdout + out.stderr).not.toContain('smtp-password');
    expect(out.stdout + out.stderr).not.toContain('@example.org');

    const rows = await db.query(sql`SELECT id, key_id, ciphertext FROM secrets ORDER BY id`);
    expect(rows).toHaveLength(250);
    for (const r of rows) {
      expect(r.key_id).toBe('k2');
      expect(keyIdOf(r.ciphertext)).toBe('k2');
    }
    const onlyK2 = new Keyring(parseMasterKeys(K2), 'k2');
    for (let i = 0; i < 250; i++) expect(await getSecret(db, onlyK2, `sec_${String(i).padStart(26, '0')}`)).toBe(plain(i));
    const leads = await db.query(sql`SELECT id, state, payload FROM sponsor_leads ORDER BY id`);
    expect(leads).toHaveLength(32);
    for (const [i, r] of leads.entries()) {
      if (i === 31) {
        expect(r.payload).toBeNull();
        continue;
      }
      expect(keyIdOf(r.payload)).toBe('k2');
      expect(onlyK2.decrypt(r.payload, leadPayloadAad(r.id))).toBe(leadBody(i));
    }

    // Safe to run again: nothing left to do.
    const again = await cli(`${K1},${K2}`, 'keys', 'rotate', '--to', 'k2');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('rotated 0 of 0 secret(s) to k2');
    expect(again.stdout).toContain('rotated 0 of 0 stored lead(s) to k2');
  });

  it('leaves a lead the forwarder delivered meanwhile (its payload dropped) as it is', async () => {
    const k1 = new Keyring(parseMasterKeys(K1), 'k1');
    const ring = new Keyring(parseMasterKeys(`${K1},${K2}`), 'k2');
    await storeLeads(k1, 100, 102);
    let calls = 0;
    const racing = {
      query: async (q: Parameters<Database['query']>[0]) => {
        // count, first batch, then (before the first write) the forwarder delivers that lead.
        if (++calls === 3) await markLeadForwarded(db, leadId(100), new Date());
        return db.query(q);
      },
    } as unknown as Database;
    const summary = await rotateLeadPayloads(racing, ring, { batchSize: 1 });
    expect(summary).toMatchObject({ total: 2, rotated: 1, skipped: 1, failed: [] });
    const [delivered, kept] = await db.query(sql`SELECT id, payload FROM sponsor_leads WHERE id IN (${leadId(100)}, ${leadId(101)}) ORDER BY id`);
    expect(delivered!.payload).toBeNull();
    expect(ring.decrypt(kept!.payload, leadPayloadAad(leadId(101)))).toBe(leadBody(101));
    expect(keyIdOf(kept!.payload)).toBe('k2');
  });

  it('leaves a row a service rewrote meanwhile to its writer (optimistic check), and resumes what is left', async () => {
    const k1 = new Keyring(parseMasterKeys(K1), 'k1');
    const ring = new Keyring(parseMasterKeys(`${K1},${K2}`), 'k2');
    const a = 'sec_RACE00000000000000000000001';
    const b = 'sec_RACE00000000000000000000002';
    await putSecret(db, k1, a, 'smtp_password', 'old a');
    await putSecret(db, k1, b, 'smtp_password', 'old b');
    // A service stores a new value of `a` between the rotation's read and its write.
    let calls = 0;
    const racing = {
      query: async (q: Parameters<Database['query']>[0]) => {
        if (++calls === 3) await putSecret(db, ring, a, 'smtp_password', 'new a');
        return db.query(q);
      },
    } as unknown as Database;
    const summary = await rotateSecrets(racing, ring, { batchSize: 1 });
    expect(summary).toMatchObject({ total: 2, rotated: 1, skipped: 1, failed: [] });
    expect(await getSecret(db, ring, a)).toBe('new a');
    expect(await getSecret(db, ring, b)).toBe('old b');
    expect((await db.query(sql`SELECT DISTINCT key_id FROM secrets`)).map((r) => r.key_id)).toEqual(['k2']);
  });

  it('refuses a key that is not in the ring, and reports secrets the ring cannot read', async () => {
    const missing = await cli(K1, 'keys', 'rotate', '--to', 'k9');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/k9/);
    expect((await cli(K1, 'keys', 'rotate')).code).toBe(2);
    // Every secret is under k2 now: a ring of k1 and a new k3 cannot read them.
    const out = await cli(`${K1},k3:${generateMasterKey()}`, 'keys', 'rotate', '--to', 'k3');
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('secret_key_unknown');
    expect(out.stderr).toMatch(/cannot read stored lead led_\w+ \(key k2\): secret_key_unknown/);
  });
});
