import { connectDatabase, getSecret, migrate, putSecret, rotateSecrets, sql, type Database } from '@postbus/db';
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

    const out = await cli(`${K1},${K2}`, 'keys', 'rotate', '--to', 'k2');
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain('rotated 250 of 250 secret(s) to k2');
    expect(out.stdout).toContain('secrets by key now: k2 250');
    expect(out.stderr).toContain('rotating to k2: 250/250');
    expect(out.stdout + out.stderr).not.toContain('smtp-password');

    const rows = await db.query(sql`SELECT id, key_id, ciphertext FROM secrets ORDER BY id`);
    expect(rows).toHaveLength(250);
    for (const r of rows) {
      expect(r.key_id).toBe('k2');
      expect(keyIdOf(r.ciphertext)).toBe('k2');
    }
    const onlyK2 = new Keyring(parseMasterKeys(K2), 'k2');
    for (let i = 0; i < 250; i++) expect(await getSecret(db, onlyK2, `sec_${String(i).padStart(26, '0')}`)).toBe(plain(i));

    // Safe to run again: nothing left to do.
    const again = await cli(`${K1},${K2}`, 'keys', 'rotate', '--to', 'k2');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('rotated 0 of 0 secret(s) to k2');
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
  });
});
