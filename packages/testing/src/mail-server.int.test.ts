import { existsSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMailServer, type MailServer } from './mail-server.js';
import { canConnect } from './ports.js';
import { RawSmtpClient } from './raw-smtp-client.js';
import { waitFor } from './wait.js';

const users = [
  { user: 'sender', password: 'sender-secret' },
  { user: 'alice', password: 'alice-secret' },
];
const password = (user: string): string => users.find((u) => u.user === user)?.password ?? '';

const message = (server: MailServer, to: string, id: string, subject: string): string =>
  `From: ${server.address('sender')}\r\nTo: ${to}\r\nMessage-ID: <${id}>\r\nSubject: ${subject}\r\n\r\nhello ${to}\r\n`;

async function smtp(server: MailServer, user?: string): Promise<RawSmtpClient> {
  const { client, greeting } = await RawSmtpClient.connect(server.smtpPort, server.host);
  expect(greeting.code).toBe(220);
  expect((await client.command('EHLO client.test')).code).toBe(250);
  if (user) expect((await client.authPlain(server.address(user), password(user))).last).toMatch(/^235 /);
  return client;
}

/** The raw source of every message in the user's INBOX. */
async function inbox(server: MailServer, user: string): Promise<string[]> {
  const imap = new ImapFlow({
    host: server.host,
    port: server.imapPort,
    secure: false,
    doSTARTTLS: false,
    auth: { user, pass: password(user) },
    logger: false,
  });
  await imap.connect();
  try {
    const box = await imap.mailboxOpen('INBOX', { readOnly: true });
    if (box.exists === 0) return [];
    const messages = await imap.fetchAll('1:*', { source: true });
    return messages.map((m) => m.source?.toString('utf8') ?? '');
  } finally {
    await imap.logout();
  }
}

const isDsn = (source: string): boolean => /^Content-Type: multipart\/report;\s*report-type=delivery-status/im.test(source);

let servers: MailServer[] = [];
beforeAll(async () => {
  // two at once, as parallel test files would run them
  const started = Date.now();
  servers = await Promise.all([
    startMailServer({ users }),
    startMailServer({ domain: 'other.test', users }),
  ]);
  console.log(`two mail servers started in ${Date.now() - started} ms`);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

describe('startMailServer', () => {
  it('delivers to a user; an unknown user gets Postfix’s own DSN into the sender’s IMAP inbox', async () => {
    await Promise.all(
      servers.map(async (server) => {
        const client = await smtp(server, 'sender');
        const submitted = Date.now();
        const toAlice = await client.transaction(server.address('sender'), [server.address('alice')], message(server, server.address('alice'), `hi-${server.domain}@test`, 'for alice'));
        expect(toAlice.end?.code).toBe(250);
        // accepted at RCPT: the bounce is asynchronous, as from a real receiving server
        const lost = `lost-${server.domain}@test`;
        const toNobody = await client.transaction(server.address('sender'), [server.address('nobody')], message(server, server.address('nobody'), lost, 'for nobody'));
        expect(toNobody.rcpt[0]?.code).toBe(250);
        expect(toNobody.end?.code).toBe(250);
        await client.quit();

        let dsn: string | undefined;
        await waitFor(
          async () => {
            dsn = (await inbox(server, 'sender')).find(isDsn);
            return dsn !== undefined;
          },
          { timeoutMs: 20_000, intervalMs: 100, message: `a DSN in sender's INBOX\n${server.logs()}` },
        );
        console.log(`${server.domain}: submit → DSN visible over IMAP in ${Date.now() - submitted} ms`);
        expect(dsn).toMatch(/^Return-Path: <>/m);
        expect(dsn).toMatch(/^From: Mail Delivery System <MAILER-DAEMON@/m);
        expect(dsn).toContain(`Final-Recipient: rfc822; nobody@${server.domain}`);
        expect(dsn).toMatch(/^Action: failed/m);
        expect(dsn).toMatch(/^Status: 5\.1\.1/m);
        expect(dsn).toContain(`Message-ID: <${lost}>`); // the returned original

        const alice = await inbox(server, 'alice');
        expect(alice).toHaveLength(1); // only this server's mail: the two are separate
        expect(alice[0]).toContain(`Message-ID: <hi-${server.domain}@test>`);
      }),
    );
  });

  it('refuses a wrong password at AUTH', async () => {
    const [server] = servers;
    if (!server) throw new Error('no server');
    const client = await smtp(server);
    expect((await client.authPlain(server.address('sender'), 'wrong')).code).toBe(535);
    expect((await client.authPlain('sender', password('sender'))).code).toBe(235); // local part alone works too
    await client.quit();
  });

  it('refuses relaying to an outside domain without AUTH, but accepts mail for the local domain', async () => {
    const [server] = servers;
    if (!server) throw new Error('no server');
    const client = await smtp(server);
    const relay = await client.transaction('someone@example.org', ['victim@example.com'], 'Subject: relay\r\n\r\nx\r\n');
    expect(relay.rcpt[0]?.last).toMatch(/^554 5\.7\.1 .*Relay access denied/);
    expect((await client.command('RSET')).code).toBe(250);
    const local = await client.transaction('someone@example.org', [server.address('alice')], 'Subject: inbound\r\n\r\nx\r\n');
    expect(local.end?.code).toBe(250);
    await client.quit();
  });

  it('stop() ends both servers and removes the temp dir', async () => {
    await Promise.all(servers.map((s) => s.stop()));
    for (const server of servers) {
      expect(existsSync(server.dir)).toBe(false);
      expect(await canConnect(server.smtpPort)).toBe(false);
      expect(await canConnect(server.imapPort)).toBe(false);
    }
  });
});
