import { createHmac, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamName } from '@postbus/contracts';
import { sql } from '@postbus/db';
import { startGmailStandin, startMailServer, waitFor, type GmailStandin, type MailServer } from '@postbus/testing';
import { SMTP_PASSWORD, startWorld, waitUntilSettled, type World } from './fixtures.js';

/**
 * Invariants 8 and 9 as one search: every kind of secret the platform holds is created with a
 * known value, traffic runs through every service, and then every place a secret must never be —
 * each stored message of each stream and KV bucket of the namespace, each service's output, each
 * API answer (but the one that shows a new secret once), each row of each table (but the
 * ciphertext of `secrets`) — is searched for each of them, plain and base64. Addresses are
 * searched for too, where the design keeps them out: the TRACKING, SUPPRESSION and SPONSORS
 * streams and the bounce and complaint events.
 */
const MAILBOX_PASSWORD = 'postfix sender mailbox secret 7';
const FBL_PASSWORD = 'feedback loop mailbox secret 9';
/** Given for a mailbox whose server refuses it: error paths are where a secret is most often echoed. */
const WRONG_MAILBOX_PASSWORD = 'a wrong mailbox password 3';
const WEBHOOK_SECRET = 'alert webhook signing secret 5';
const CONSENT = { text: 'I agree to be contacted about this offer.', time: '2026-11-01T10:00:00Z', source: 'landing:no-secrets' };

/** What was answered, and whether that answer is the one place a new secret is shown. */
interface Answer {
  readonly what: string;
  readonly text: string;
  readonly showsSecret: boolean;
}

function base32Decode(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let acc = 0;
  const out: number[] = [];
  for (const c of text.replace(/=+$/, '')) {
    acc = (acc << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

function totpCode(secret: Buffer, at = Date.now()): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(Math.floor(at / 30_000)));
  const mac = createHmac('sha1', secret).update(msg).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** A PEM key's distinctive parts: each full base64 line of its body (a leak of any one of them is a leak). */
const pemLines = (pem: string) => pem.split('\n').filter((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l));

function unQp(raw: string): string {
  return raw.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

describe('no secret where it should not be (invariants 8 and 9)', () => {
  let w: World;
  let gmail: GmailStandin;
  let mail: MailServer;
  let sponsorEndpoint: Server;
  const sponsorSaw: string[] = [];
  const alertsSaw: string[] = [];
  const answers: Answer[] = [];
  /** name → the plaintext; every one of them is searched for everywhere. */
  const secrets = new Map<string, string>();
  /** Bearer credentials: also never at rest or in a log (the answers that issue them are the API's job). */
  const credentials = new Map<string, string>();

  beforeAll(async () => {
    sponsorEndpoint = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        (req.url === '/alerts' ? alertsSaw : sponsorSaw).push(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => sponsorEndpoint.listen(0, '127.0.0.1', resolve));
    gmail = await startGmailStandin({ sendsPerMinute: 10_000, sendsPerDay: 10_000 });
    mail = await startMailServer({ domain: 'mail.test', users: [{ user: 'sender', password: MAILBOX_PASSWORD }, { user: 'fbl', password: FBL_PASSWORD }] });
    w = await startWorld({
      users: ['ns', 'refused'],
      refusedUsers: ['refused'],
      services: ['admin', 'orchestrator', 'sender', 'projector', 'tracking', 'sponsor-gateway', 'bounce-processor'],
      keepOutputChunks: 1_000_000,
      env: {
        // Everything a service may log, down to debug, is searched, not only warnings.
        POSTBUS_LOG_LEVEL: 'debug',
        POSTBUS_GMAIL_API_URL: gmail.rootUrl,
        POSTBUS_GMAIL_TRUSTED_TOKEN_URIS: gmail.tokenUri,
        POSTBUS_SPONSOR_ALLOW_PRIVATE_ENDPOINTS: '1',
        POSTBUS_SPONSOR_FORWARD_POLL_MS: '100',
        POSTBUS_SPONSOR_CORS_ORIGINS: 'https://landing.example',
        POSTBUS_BOUNCES_POLL_MS: '300',
        POSTBUS_ALERT_WEBHOOK_URL: `http://127.0.0.1:${(sponsorEndpoint.address() as AddressInfo).port}/alerts`,
        POSTBUS_ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET,
      },
    });
    for (const url of [w.platform.trackingUrl, w.platform.sponsorGatewayUrl]) {
      await waitFor(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.ok === true, { timeoutMs: 20_000, message: `${url} did not start` });
    }
    secrets.set('SMTP password', SMTP_PASSWORD);
    secrets.set('bounce mailbox password', MAILBOX_PASSWORD);
    secrets.set('feedback mailbox password', FBL_PASSWORD);
    secrets.set('bootstrap admin password', w.platform.adminPassword);
    secrets.set('master key', w.platform.masterKeys.split(':')[1]!);
    secrets.set('JWT secret', w.platform.jwtSecret);
    secrets.set('alert webhook secret', WEBHOOK_SECRET);
    secrets.set('refused mailbox password', WRONG_MAILBOX_PASSWORD);
  }, 120_000);
  afterAll(async () => {
    await w?.close();
    await gmail?.close();
    await mail?.stop();
    await new Promise((resolve) => sponsorEndpoint?.close(resolve));
  });

  /** The admin API, each answer kept. */
  const admin = async (method: string, path: string, body?: unknown, showsSecret = false) => {
    const res = await w.admin.request(method, path, body);
    answers.push({ what: `admin ${method} ${path}`, text: JSON.stringify(res.body) ?? '', showsSecret });
    return res;
  };
  /** Any other HTTP call, each answer (status, headers, body) kept. */
  const http = async (what: string, url: string, init: RequestInit = {}, showsSecret = false) => {
    const res = await fetch(url, { redirect: 'manual', ...init });
    const text = await res.text();
    answers.push({ what, text: `${res.status} ${JSON.stringify([...res.headers])} ${text}`, showsSecret });
    return { status: res.status, headers: res.headers, text };
  };

  async function streamNames(): Promise<string[]> {
    const names: string[] = [];
    for await (const n of w.bus.jsm.streams.names()) if (n.toLowerCase().includes(w.ns.prefix.toLowerCase())) names.push(n);
    return names;
  }

  /** Every stored message of a stream: subject (a KV key), headers and data. */
  async function storedMessages(name: string): Promise<Array<{ subject: string; text: string }>> {
    const { state } = await w.bus.jsm.streams.info(name);
    const out: Array<{ subject: string; text: string }> = [];
    for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
      const m = await w.bus.jsm.streams.getMessage(name, { seq }).catch(() => null);
      if (!m) continue;
      const h = m.header;
      const headers = h ? h.keys().map((k) => `${k}: ${h.values(k).join(', ')}`).join('\n') : '';
      out.push({ subject: m.subject, text: `${m.subject}\n${headers}\n${m.string()}` });
    }
    return out;
  }

  it('creates every kind of secret, runs traffic, and finds none of them where they must not be', async () => {
    // --- SMTP account with a DKIM key; a Gmail account with a service-account key; a Postfix account with its bounce mailbox.
    const smtp = await admin('POST', '/v1/accounts', {
      name: 'no-secrets smtp',
      fromAddress: 'ns@sender.test',
      smtp: { host: '127.0.0.1', port: w.sink.port, tls: 'none', user: 'ns', password: SMTP_PASSWORD },
      dailyLimit: 1000,
      postalAddress: '1 Test Street, Testville',
    });
    expect(smtp.status).toBe(201);
    const smtpAccount = smtp.body.id as string;
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const dkimPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    pemLines(dkimPem).forEach((l, i) => secrets.set(`DKIM key line ${i}`, l));
    expect((await admin('PUT', `/v1/accounts/${smtpAccount}/dkim`, { domain: 'sender.test', selector: 'pb1', privateKey: dkimPem })).status).toBe(200);

    gmail.addUser('gm@gmail.test');
    const serviceKey = await gmail.createServiceAccount();
    pemLines(serviceKey.private_key).forEach((l, i) => secrets.set(`service-account key line ${i}`, l));
    const gm = await admin('POST', '/v1/accounts', {
      name: 'no-secrets gmail',
      fromAddress: 'gm@gmail.test',
      provider: 'gmail',
      gmail: { serviceAccountKey: JSON.stringify(serviceKey) },
      postalAddress: '1 Test Street, Testville',
    });
    expect(gm.status).toBe(201);

    const pf = await admin('POST', '/v1/accounts', {
      name: 'no-secrets postfix',
      fromAddress: mail.address('sender'),
      smtp: { host: '127.0.0.1', port: mail.smtpPort, tls: 'none', user: 'sender', password: MAILBOX_PASSWORD },
      dailyLimit: 1000,
      postalAddress: '1 Test Street, Testville',
    });
    expect(pf.status).toBe(201);
    const postfixAccount = pf.body.id as string;
    expect((await admin('POST', '/v1/mailboxes', { accountId: postfixAccount, host: '127.0.0.1', port: mail.imapPort, tls: 'none', username: 'sender', password: MAILBOX_PASSWORD })).status).toBe(201);
    expect((await admin('POST', '/v1/mailboxes', { host: '127.0.0.1', port: mail.imapPort, tls: 'none', username: 'fbl', password: FBL_PASSWORD })).status).toBe(201);

    // --- An operator with a password and a TOTP second factor.
    const operatorPassword = 'operator password with 4 words';
    secrets.set('operator password', operatorPassword);
    expect((await admin('POST', '/v1/users', { username: 'ops-person', password: operatorPassword, role: 'operator' })).status).toBe(201);
    const login = async (totp?: string) => {
      const res = await http('login', `${w.platform.adminUrl}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'ops-person', password: operatorPassword, ...(totp ? { totp } : {}) }) }, true);
      return JSON.parse(res.text) as { accessToken: string; refreshToken: string };
    };
    const first = await login();
    const opAuth = { authorization: `Bearer ${first.accessToken}`, 'content-type': 'application/json' };
    const enrol = await fetch(`${w.platform.adminUrl}/v1/auth/totp`, { method: 'POST', headers: { authorization: opAuth.authorization } });
    expect(enrol.status).toBe(201);
    const totpSecret = new URL(((await enrol.json()) as { otpauthUri: string }).otpauthUri).searchParams.get('secret')!;
    secrets.set('TOTP secret', totpSecret);
    expect((await http('totp confirm', `${w.platform.adminUrl}/v1/auth/totp/confirm`, { method: 'POST', headers: opAuth, body: JSON.stringify({ code: totpCode(base32Decode(totpSecret)) }) })).status).toBe(200);
    // A code is good once: the next step's code (also accepted) logs in.
    const second = await login(totpCode(base32Decode(totpSecret), Date.now() + 30_000));
    expect(second.refreshToken, JSON.stringify(second)).toBeTruthy();
    credentials.set('operator access token', second.accessToken);
    credentials.set('operator refresh token', second.refreshToken);
    expect((await http('refresh', `${w.platform.adminUrl}/v1/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: second.refreshToken }) }, true)).status).toBe(200);

    // --- A sponsor with its signing secret, an offer and an API key.
    const sponsor = await admin('POST', '/v1/sponsors', { name: 'Acme', endpointUrl: `http://127.0.0.1:${(sponsorEndpoint.address() as AddressInfo).port}/leads` }, true);
    expect(sponsor.status).toBe(201);
    const sponsorId = sponsor.body.sponsor.id as string;
    secrets.set('sponsor signing secret', sponsor.body.signingSecret as string);
    const offer = await admin('POST', `/v1/sponsors/${sponsorId}/offers`, { name: 'Acme spring', landingUrl: 'https://landing.example/spring' });
    const key = await admin('POST', `/v1/sponsors/${sponsorId}/keys`, { label: 'server' }, true);
    expect(key.status).toBe(201);
    secrets.set('sponsor API key', key.body.apiKey as string);
    const offerId = offer.body.id as string;

    // --- Traffic: a tracked message (an open, a click, an offer click, an unsubscribe), a Gmail send, a bounce, two leads.
    const html = `<p>Read <a href="https://shop.example/sale">the sale</a> and <a href="https://landing.example/spring?postbus_offer=${offerId}">the offer</a>.</p>`;
    expect((await admin('POST', '/v1/messages', { messages: [{ to: 'reader@receiver.test', accountId: smtpAccount, subject: 'News', text: 'Read it.', html }] })).status).toBe(202);
    expect((await admin('POST', '/v1/messages', { messages: [{ to: 'gmail-reader@receiver.test', accountId: gm.body.id, subject: 'Via Gmail', text: 'Hello.' }] })).status).toBe(202);
    expect((await admin('POST', '/v1/messages', { messages: [{ to: mail.address('nobody'), accountId: postfixAccount, subject: 'To no one', text: 'Hello?' }] })).status).toBe(202);
    await waitUntilSettled(w, 3, 60_000);

    const [tx] = await w.sink.waitFor((t) => t.some((x) => x.rcptTo.includes('reader@receiver.test')), 30_000);
    const body = unQp(tx!.raw.toString('latin1'));
    const pixel = /(http:\/\/127\.0\.0\.1:\d+\/track\/open\/[A-Za-z0-9_-]+)/.exec(body)?.[1];
    const clicks = [...body.matchAll(/(http:\/\/127\.0\.0\.1:\d+\/track\/click\/[A-Za-z0-9_-]+)/g)].map((m) => m[1]!);
    const unsubscribe = /(http:\/\/127\.0\.0\.1:\d+\/unsubscribe\/[A-Za-z0-9_-]+)/.exec(body)?.[1];
    expect(pixel && unsubscribe && clicks.length >= 2).toBeTruthy();
    await http('open', pixel!, { headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0' } });
    let leadToken = '';
    for (const click of new Set(clicks)) {
      // An offer click's redirect carries a lead token: issuing it is that answer's job.
      const res = await http('click', click, { headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0' } }, true);
      expect(res.status).toBe(302);
      leadToken ||= new URL(res.headers.get('location')!).searchParams.get('postbus_lead') ?? '';
    }
    expect(leadToken).not.toBe('');
    credentials.set('lead token', leadToken);
    const gateway = w.platform.sponsorGatewayUrl;
    const byToken = await http('lead by token', `${gateway}/api/sponsors/leads`, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'https://landing.example', 'postbus-lead-token': leadToken }, body: JSON.stringify({ email: 'reader@receiver.test', name: 'Rea Der', consent: CONSENT }) });
    expect(byToken.status).toBe(202);
    const byKey = await http('lead by key', `${gateway}/api/sponsors/leads`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key.body.apiKey as string}`, 'idempotency-key': 'form-42' }, body: JSON.stringify({ offerId, email: 'server-lead@receiver.test', name: 'Ser Ver', consent: CONSENT }) });
    expect(byKey.status).toBe(202);
    await http('offers', `${gateway}/api/sponsors/offers`, { headers: { authorization: `Bearer ${key.body.apiKey as string}` } });
    expect((await http('unsubscribe', unsubscribe!, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' })).status).toBe(200);

    // Wait for the facts: opens, clicks and the unsubscribe; both leads forwarded; the bounce; the Gmail send.
    const typesIn = async (base: 'TRACKING' | 'SPONSORS' | 'MAIL') => (await storedMessages(streamName(w.ns, base))).map((m) => m.text).join('\n');
    await waitFor(async () => {
      const tracking = await typesIn('TRACKING');
      return ['"OpensRecorded"', '"LinkClicked"', '"Unsubscribed"'].every((t) => tracking.includes(t));
    }, { timeoutMs: 20_000, message: 'tracking events missing' });
    await waitFor(async () => (await typesIn('SPONSORS')).split('"LeadForwarded"').length - 1 >= 2, { timeoutMs: 30_000, message: `leads not forwarded\n${w.platform.logs('sponsor-gateway').slice(-3000)}` });
    await waitFor(async () => (await typesIn('MAIL')).includes('"EmailBounced"'), { timeoutMs: 60_000, message: `no bounce recorded\n${w.platform.logs('bounce-processor').slice(-3000)}` });
    expect(gmail.sent('gm@gmail.test')).toHaveLength(1);
    expect(sponsorSaw).toHaveLength(2);

    // Error paths: an SMTP server that refuses the password (the account is suspended, an alert is
    // signed and sent), and a mailbox that refuses its password.
    const refused = await admin('POST', '/v1/accounts', {
      name: 'no-secrets refused',
      fromAddress: 'refused@sender.test',
      smtp: { host: '127.0.0.1', port: w.sink.port, tls: 'none', user: 'refused', password: SMTP_PASSWORD },
      dailyLimit: 1000,
      postalAddress: '1 Test Street, Testville',
    });
    expect(refused.status).toBe(201);
    expect((await admin('POST', '/v1/messages', { messages: [{ to: 'held@receiver.test', accountId: refused.body.id, subject: 'Held', text: 'Held.' }] })).status).toBe(202);
    expect((await admin('POST', '/v1/mailboxes', { host: '127.0.0.1', port: mail.imapPort, tls: 'none', username: 'fbl', password: WRONG_MAILBOX_PASSWORD })).status).toBe(201);
    await waitFor(async () => (await admin('GET', `/v1/accounts/${refused.body.id as string}`)).body.status === 'suspended', { timeoutMs: 30_000, message: 'the refused account was not suspended' });
    await waitFor(async () => alertsSaw.some((a) => a.includes('account_suspended')), { timeoutMs: 15_000, message: 'no alert reached the webhook' });
    await waitFor(async () => ((await admin('GET', '/v1/mailboxes')).body.mailboxes as Array<{ lastError: string | null }>).some((m) => m.lastError), { timeoutMs: 15_000, message: 'the refused mailbox shows no error' });
    // Some reads, so that their answers are searched too.
    for (const path of ['/v1/accounts', `/v1/accounts/${smtpAccount}`, `/v1/accounts/${gm.body.id as string}`, '/v1/mailboxes', '/v1/users', '/v1/audit?limit=500', '/v1/sponsors', `/v1/sponsors/${sponsorId}`, `/v1/sponsors/${sponsorId}/keys`, `/v1/sponsors/${sponsorId}/offers`, '/v1/messages?limit=100', '/v1/bounces', '/v1/suppressions', '/v1/config', '/v1/alerts', '/v1/nodes', '/docs/json']) {
      expect((await admin('GET', path)).status, path).toBe(200);
    }

    // --- The search.
    const needles = new Map<string, string>();
    for (const [name, value] of [...secrets, ...credentials]) {
      needles.set(name, value);
      needles.set(`${name} (base64)`, Buffer.from(value).toString('base64'));
    }
    const found: string[] = [];
    const search = (where: string, text: string, which: Map<string, string> = needles) => {
      const lower = text.toLowerCase();
      for (const [name, value] of which) if (lower.includes(value.toLowerCase())) found.push(`${name} in ${where}`);
    };

    // The search finds what is there: the answers that issued the sponsor's secrets, the addresses in MAIL.
    search('control', JSON.stringify([sponsor.body, key.body]));
    expect(found.sort()).toEqual(['sponsor API key in control', 'sponsor signing secret in control']);
    found.length = 0;
    const mailLog = (await storedMessages(streamName(w.ns, 'MAIL'))).map((m) => m.text).join('\n');
    expect(mailLog).toContain('reader@receiver.test');

    const names = await streamNames();
    expect(names.length).toBeGreaterThanOrEqual(8);
    // The KV buckets (config, sender-node leases) are streams too: their keys are the subjects searched.
    expect(names.filter((n) => n.startsWith('KV_')).length).toBeGreaterThanOrEqual(2);
    let storedCount = 0;
    for (const name of names) {
      for (const m of await storedMessages(name)) {
        storedCount++;
        search(`${name} ${m.subject}`, m.text);
      }
    }
    for (const svc of w.platform.services.keys()) {
      const out = w.platform.logs(svc);
      expect(out.length, `${svc} said nothing`).toBeGreaterThan(0);
      search(`the output of ${svc}`, out);
    }
    // An answer that issues a secret or a token shows it (that is its job); it must show no other secret.
    const issued = new Set(['sponsor signing secret', 'sponsor API key', ...credentials.keys()]);
    const notIssued = new Map([...needles].filter(([n]) => ![...issued].some((i) => n.startsWith(i))));
    for (const a of answers) search(`the answer to ${a.what}`, a.text, a.showsSecret ? notIssued : needles);

    const tables = await w.db.query(sql`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`);
    expect(tables.length).toBeGreaterThan(10);
    let rowCount = 0;
    for (const { table_name: table } of tables as Array<{ table_name: string }>) {
      const columns = (await w.db.query(sql`SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ${table}`)).map((c) => c.column_name as string);
      // Ciphertext is what invariant 8 asks for at rest; the rest of that table is searched too.
      const shown = table === 'secrets' ? columns.filter((c) => c !== 'ciphertext') : columns;
      const rows = await w.db.query(sql`SELECT ${sql.join(shown.map((c) => sql`${sql.ident(c)}::text`), ', ')} FROM ${sql.ident(table)}`);
      rowCount += rows.length;
      for (const r of rows) search(`table ${table}`, JSON.stringify(r));
    }

    // Addresses: none in the tracking, suppression and sponsor logs, nor in bounce and complaint events.
    const addresses = new Map(['reader@receiver.test', 'server-lead@receiver.test', 'gmail-reader@receiver.test', mail.address('nobody')].map((a) => [a, a] as const));
    for (const base of ['TRACKING', 'SUPPRESSION', 'SPONSORS'] as const) for (const m of await storedMessages(streamName(w.ns, base))) search(`${base} ${m.subject}`, m.text, addresses);
    for (const m of await storedMessages(streamName(w.ns, 'MAIL'))) if (/"Email(Bounced|Complained)"/.test(m.text)) search(`MAIL ${m.subject}`, m.text, addresses);

    console.log(`searched for ${needles.size} secrets in ${names.length} streams and buckets (${storedCount} messages), ${w.platform.services.size} services' output, ${answers.length} answers, ${tables.length} tables (${rowCount} rows)`);
    expect(found).toEqual([]);
  }, 240_000);
});
