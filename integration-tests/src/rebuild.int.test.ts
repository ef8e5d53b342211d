import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishEvent } from '@postbus/bus';
import type { PostbusEvent } from '@postbus/contracts';
import { sql, type Database } from '@postbus/db';
import { allProjections } from '@postbus/projector';
import { waitFor } from '@postbus/testing';
import { OPEN_STATES, registerAccount, startWorld, type World } from './fixtures.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const quiet = { info() {}, warn() {}, error() {} };

/**
 * An order-independent digest of a table: md5 over every row's text, the rows sorted. Equal
 * digests: the same rows, column for column (timestamps to the microsecond).
 */
async function checksums(db: Database, tables: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of tables) {
    const [r] = await db.query(sql`SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, E'\n' ORDER BY x::text), '')) AS d FROM ${sql.ident(t)} x`);
    out[t] = `${r!.n as number}:${r!.d as string}`;
  }
  return out;
}

/** Quoted-printable soft breaks and escapes undone, enough to find URLs in a body. */
const unQp = (s: string) => s.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));

/**
 * DESIGN.md invariant 6 with real traffic: the platform sends, tracks, suppresses and changes
 * accounts; then every projection table is dropped and `postbus projections rebuild` (the
 * built bin, as an operator runs it) makes every row again, identical, and no primary table
 * changes.
 */
describe('postbus projections rebuild after real traffic', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ users: ['ra', 'rb', 'rx'], refusedUsers: ['rx'], services: ['admin', 'orchestrator', 'sender', 'projector', 'tracking'] });
    await waitFor(async () => (await fetch(`${w.platform.trackingUrl}/readyz`).catch(() => undefined))?.ok === true, { timeoutMs: 20_000, message: 'tracking did not start' });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  it('every read table is the same, row for row, after dropping them all and rebuilding; primary tables untouched', async () => {
    // Traffic: two accounts sending bulk mail with tracking, a third refused by its server
    // (suspended), settings changed, opens, clicks, an unsubscribe, then mail to that address.
    const a = await registerAccount(w, 'ra', 1_000);
    const b = await registerAccount(w, 'rb', 1_000);
    const refused = await registerAccount(w, 'rx', 1_000);
    expect((await w.admin.request('PATCH', `/v1/accounts/${b}`, { dailyLimit: 900, sendDelayMs: 5 })).status).toBe(200);
    const messages = Array.from({ length: 30 }, (_, i) => ({
      to: `reader${i}@receiver.test`,
      subject: `News ${i}`,
      text: `Read https://shop.example/sale/${i} now.`,
      html: `<p>Read <a href="https://shop.example/sale/${i}">the sale</a> now.</p>`,
      // Pinned: an unpinned message could go to the refused account before it is suspended.
      accountId: i % 2 === 0 ? a : b,
      ...(i % 5 === 0 ? { kind: 'transactional' } : {}),
    }));
    const accepted = await w.admin.request('POST', '/v1/messages', { messages: [...messages, { to: 'stuck@receiver.test', subject: 'Held', text: 'x', accountId: refused }] });
    expect(accepted.status).toBe(202);
    await waitFor(async () => (await w.admin.request('GET', `/v1/accounts/${refused}`)).body.status === 'suspended', { timeoutMs: 30_000, message: 'the refused account was not suspended' });
    await waitFor(() => w.sink.transactions.length >= 30, { timeoutMs: 60_000, message: 'the mail was not sent' });

    const bodies = w.sink.transactions.map((t) => unQp(t.raw.toString('latin1')));
    const links = (re: RegExp) => bodies.map((body) => re.exec(body)?.[1]).filter((u): u is string => Boolean(u));
    const pixels = links(/(http:\/\/127\.0\.0\.1:\d+\/track\/open\/[A-Za-z0-9_-]+)/);
    const clicks = links(/(http:\/\/127\.0\.0\.1:\d+\/track\/click\/[A-Za-z0-9_-]+)/);
    const unsubscribes = links(/(http:\/\/127\.0\.0\.1:\d+\/unsubscribe\/[A-Za-z0-9_-]+)/);
    expect(pixels.length).toBeGreaterThan(5);
    const browser = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0' };
    for (const p of pixels.slice(0, 6)) await (await fetch(p, { headers: browser })).arrayBuffer();
    for (const c of clicks.slice(0, 4)) await fetch(c, { redirect: 'manual', headers: browser });
    const unsubscribed = await fetch(unsubscribes[0]!, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    expect(unsubscribed.status).toBe(200);
    const [suppressed] = await w.db.query(sql`SELECT address FROM suppressions`);
    const again = await w.admin.request('POST', '/v1/messages', { messages: [{ to: suppressed!.address as string, subject: 'Again', text: 'x', accountId: a }] });
    expect(again.status).toBe(202);

    // A bounce and a complaint for sent messages, as the bounce processor appends them.
    const sent = await w.db.query(sql`SELECT message_id, account_id, recipient FROM deliveries WHERE state = 'sent' ORDER BY message_id LIMIT 2`);
    const hash = (addr: string) => createHash('sha256').update(addr.toLowerCase()).digest('hex');
    const feedback: PostbusEvent[] = [
      {
        id: `${sent[0]!.message_id as string}.bounced.1`, type: 'EmailBounced', version: 1, occurredAt: new Date().toISOString(),
        accountId: sent[0]!.account_id as string, messageId: sent[0]!.message_id as string,
        data: { addressHash: hash(sent[0]!.recipient as string), severity: 'hard', reason: 'mailbox_unavailable', status: '5.1.1', replyCode: 550, suppressed: true, source: 'imap:test' },
      },
      {
        id: `${sent[1]!.message_id as string}.complained.1`, type: 'EmailComplained', version: 1, occurredAt: new Date().toISOString(),
        accountId: sent[1]!.account_id as string, messageId: sent[1]!.message_id as string,
        data: { addressHash: hash(sent[1]!.recipient as string), feedbackType: 'abuse', source: 'imap:test' },
      },
    ];
    for (const e of feedback) await publishEvent(w.bus, w.bus.subjects.mail(e.accountId!, e.type === 'EmailBounced' ? 'bounced' : 'complained'), e);

    // Everything settled (the suspended account's message stays assigned) and projected.
    await waitFor(async () => {
      const [open] = await w.db.query(sql`SELECT count(*)::int AS n FROM deliveries WHERE state = ANY(${OPEN_STATES}::text[]) AND account_id IS DISTINCT FROM ${refused}`);
      return open!.n === 0;
    }, { timeoutMs: 60_000, message: 'the traffic did not settle' });
    const projections = allProjections(w.ns, { log: quiet });
    const caughtUp = async () => {
      const checkpoints = await w.db.query(sql`SELECT projection, stream, position FROM projection_checkpoints`);
      for (const p of projections) {
        for (const s of p.streams) {
          const last = (await w.bus.jsm.streams.info(s)).state.last_seq;
          const at = checkpoints.find((c) => c.projection === p.name && c.stream === s)?.position ?? 0;
          if (at !== last) return false;
        }
      }
      return true;
    };
    await waitFor(caughtUp, { timeoutMs: 30_000, message: 'the projector did not catch up' });
    // Nothing writes while the tables are compared: the services stop (leases, quotas, alerts are primary rows).
    await w.platform.stop();
    expect(await caughtUp()).toBe(true);

    const projected = projections.flatMap((p) => [...p.tables]);
    const all = (await w.db.query(sql`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)).map((r) => r.table_name as string);
    const primary = all.filter((t) => !projected.includes(t) && t !== 'projection_checkpoints').sort();
    expect(projected.every((t) => all.includes(t))).toBe(true);
    expect(primary).toEqual(expect.arrayContaining(['deliveries', 'suppressions', 'secrets', 'account_epochs', 'quota_usage', 'audit_log']));
    const before = await checksums(w.db, projected);
    const primaryBefore = await checksums(w.db, primary);
    // The traffic reached every kind of read row.
    for (const t of ['sender_accounts', 'sender_account_events', 'email_queue', 'send_logs', 'bounce_list', 'open_events', 'click_events', 'suppression_events', 'unsubscribe_list']) {
      expect(before[t], `${t} has rows`).not.toMatch(/^0:/);
    }
    const counts = await w.db.query(sql`SELECT status, count(*)::int AS n FROM email_queue GROUP BY 1 ORDER BY 1`);
    expect(counts.map((c) => c.status)).toEqual(expect.arrayContaining(['sent', 'suppressed']));

    for (const t of projected) await w.db.query(sql`DROP TABLE ${sql.ident(t)}`);
    await w.db.query(sql`DELETE FROM projection_checkpoints`);

    const cli = spawn(process.execPath, [`${root}packages/cli/dist/main.js`, 'projections', 'rebuild'], {
      env: { PATH: process.env.PATH ?? '', POSTBUS_DATABASE_URL: w.testDb!.url, POSTBUS_NATS_URL: w.natsUrl, POSTBUS_NAMESPACE: w.ns.prefix, POSTBUS_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    cli.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    cli.stdout.resume();
    const code = await new Promise<number | null>((done) => cli.once('exit', done));
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/rebuilt 3 projection\(s\)/);
    for (const p of projections) for (const s of p.streams) expect(stderr).toContain(`${p.name} ${s}`);

    expect(await checksums(w.db, projected)).toEqual(before);
    expect(await checksums(w.db, primary)).toEqual(primaryBefore);
    expect(await caughtUp()).toBe(true);
  }, 180_000);
});
