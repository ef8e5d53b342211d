import { afterEach, describe, expect, it } from 'vitest';
import { RawSmtpClient } from './raw-smtp-client.js';
import { startSmtpSink, type SmtpSink, type SmtpSinkOptions } from './smtp-sink.js';

const sinks: SmtpSink[] = [];
async function sink(options?: SmtpSinkOptions): Promise<SmtpSink> {
  const s = await startSmtpSink(options);
  sinks.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.close()));
});

const message = (id: string, body = 'hello'): string =>
  `From: a@example.com\r\nTo: b@example.com\r\nMessage-ID:\r\n <${id}@test>\r\nSubject: hi\r\n\r\n${body}\r\n`;

async function connect(s: SmtpSink, user?: [string, string]): Promise<RawSmtpClient> {
  const { client, greeting } = await RawSmtpClient.connect(s.port, s.host);
  expect(greeting.code).toBe(220);
  expect((await client.command('EHLO client.test')).code).toBe(250);
  if (user) expect((await client.authPlain(...user)).code).toBe(235);
  return client;
}

describe('startSmtpSink', () => {
  it('records a transaction with envelope, raw body, parsed Message-ID and timing', async () => {
    const s = await sink();
    const client = await connect(s);
    const before = Date.now();
    const result = await client.transaction('a@example.com', ['b@example.com', 'c@example.com'], message('m1', '.dot line\r\nend'));
    expect(result.end?.code).toBe(250);
    await client.quit();

    expect(s.transactions).toHaveLength(1);
    const [tx] = s.transactions;
    expect(tx).toMatchObject({ user: undefined, mailFrom: 'a@example.com', rcptTo: ['b@example.com', 'c@example.com'], messageId: '<m1@test>' });
    expect(tx?.raw.toString()).toContain('\r\n.dot line\r\nend'); // dot-unstuffed
    expect(tx?.startedAt).toBeGreaterThanOrEqual(before);
    expect(tx?.endedAt).toBeGreaterThanOrEqual(tx?.startedAt ?? Infinity);
    expect(tx?.sessionId).toBeTruthy();
  });

  it('does not offer STARTTLS unless tls is set; advertises AUTH either way', async () => {
    const plain = await sink();
    const { client } = await RawSmtpClient.connect(plain.port);
    const ehlo = await client.command('EHLO x');
    expect(ehlo.lines).not.toContain('STARTTLS');
    expect(ehlo.lines.some((l) => l.startsWith('AUTH'))).toBe(true);
    await client.quit();

    const withTls = await sink({ tls: true });
    const second = await RawSmtpClient.connect(withTls.port);
    expect((await second.client.command('EHLO x')).lines).toContain('STARTTLS');
    await second.client.quit();
  });

  it('accepts any credentials without an auth map and records the user', async () => {
    const s = await sink();
    const client = await connect(s, ['alice', 'whatever']);
    expect((await client.transaction('a@x.test', ['b@x.test'], message('m2'))).end?.code).toBe(250);
    await client.quit();
    expect(s.transactions[0]?.user).toBe('alice');
  });

  it('requires AUTH with an auth map and refuses a wrong password with 535 5.7.8', async () => {
    const s = await sink({ auth: { alice: 'secret', bob: 'hunter2' } });
    const anonymous = await connect(s);
    expect((await anonymous.command('MAIL FROM:<a@x.test>')).code).toBe(530);
    expect((await anonymous.authPlain('alice', 'wrong')).last).toBe('535 5.7.8 Authentication credentials invalid');
    expect((await anonymous.authPlain('mallory', 'secret')).code).toBe(535);
    await anonymous.quit();

    const alice = await connect(s, ['alice', 'secret']);
    expect((await alice.transaction('a@x.test', ['b@x.test'], message('m3'))).end?.code).toBe(250);
    await alice.quit();

    const { client: bob } = await RawSmtpClient.connect(s.port);
    await bob.command('EHLO x');
    expect((await bob.command('AUTH LOGIN')).code).toBe(334);
    expect((await bob.command(Buffer.from('bob').toString('base64'))).code).toBe(334);
    expect((await bob.command(Buffer.from('hunter2').toString('base64'))).code).toBe(235);
    expect((await bob.transaction('b@x.test', ['c@x.test'], message('m4'))).end?.code).toBe(250);
    await bob.quit();

    expect(s.transactions.map((t) => t.user)).toEqual(['alice', 'bob']);
    expect(s.rejections.filter((r) => r.stage === 'auth').map((r) => r.user)).toEqual(['alice', 'mallory']);
  });

  it('injects per-recipient, end-of-DATA and per-user failures, changeable mid-test', async () => {
    const s = await sink({
      onRcpt: (address) => (address.startsWith('gone') ? { code: 550, message: '5.1.1 User unknown' } : undefined),
    });
    const client = await connect(s, ['alice', 'x']);
    const first = await client.transaction('a@x.test', ['gone@x.test', 'ok@x.test'], message('m5'));
    expect(first.rcpt.map((r) => r.last)).toEqual(['550 5.1.1 User unknown', '250 Accepted']);
    expect(first.end?.code).toBe(250);
    expect(s.transactions[0]?.rcptTo).toEqual(['ok@x.test']);

    s.behavior.onData = (tx) => (tx.messageId === '<m6@test>' ? { code: 451, message: '4.7.1 Try again later' } : undefined);
    const second = await client.transaction('a@x.test', ['ok@x.test'], message('m6'));
    expect(second.end?.last).toBe('451 4.7.1 Try again later');

    s.behavior.failUser = (user) => (user === 'alice' ? { code: 550, message: '5.7.1 Account disabled' } : undefined);
    const third = await client.transaction('a@x.test', ['ok@x.test'], message('m7'));
    expect(third.mail.last).toBe('550 5.7.1 Account disabled');
    await client.quit();

    const again = await connect(s);
    expect((await again.authPlain('alice', 'x')).last).toBe('550 5.7.1 Account disabled');
    await again.quit();

    expect(s.transactions.map((t) => t.messageId)).toEqual(['<m5@test>']);
    expect(s.rejections.map((r) => [r.stage, r.reply.code])).toEqual([['rcpt', 550], ['data', 451], ['mail', 550], ['auth', 550]]);
    expect(s.rejections[1]?.transaction?.messageId).toBe('<m6@test>');
  });

  it('delays the end-of-DATA reply and endedAt reflects it', async () => {
    const s = await sink({ delayMs: 150 });
    const client = await connect(s);
    const t0 = Date.now();
    await client.transaction('a@x.test', ['b@x.test'], message('m8'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    await client.quit();
    const tx = s.transactions[0];
    expect((tx?.endedAt ?? 0) - (tx?.startedAt ?? 0)).toBeGreaterThanOrEqual(140);
  });

  it('waitFor wakes on new transactions and times out with a clear error', async () => {
    const s = await sink();
    const waiting = s.waitFor((txs) => txs.length >= 2, 5000);
    const client = await connect(s);
    await client.transaction('a@x.test', ['b@x.test'], message('w1'));
    await client.transaction('a@x.test', ['b@x.test'], message('w2'));
    await client.quit();
    expect((await waiting).map((t) => t.messageId)).toEqual(['<w1@test>', '<w2@test>']);
    await expect(s.waitFor((txs) => txs.length > 5, 50)).rejects.toThrow(/within 50 ms \(2 transactions/);
    s.clear();
    expect(s.transactions).toHaveLength(0);
  });

  it('counts by user and reports duplicate Message-IDs', async () => {
    const s = await sink();
    for (const [user, id] of [['alice', 'd1'], ['alice', 'd2'], ['bob', 'd1'], [undefined, 'd3']] as const) {
      const client = await connect(s, user ? [user, 'x'] : undefined);
      await client.transaction('a@x.test', ['b@x.test'], message(id));
      await client.quit();
    }
    expect(s.countByUser()).toEqual(new Map([['alice', 2], ['bob', 1], [undefined, 1]]));
    expect(s.duplicates()).toEqual(['<d1@test>']);
  });

  it('handles dozens of concurrent connections at hundreds of messages per second', async () => {
    const s = await sink({ maxClients: 100 });
    const connections = 40;
    const perConnection = 25;
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: connections }, async (_, c) => {
        const client = await connect(s, [`user${c % 4}`, 'x']);
        for (let i = 0; i < perConnection; i++) {
          const r = await client.transaction('a@x.test', ['b@x.test'], message(`load-${c}-${i}`, 'x'.repeat(2000)));
          expect(r.end?.code).toBe(250);
        }
        await client.quit();
      }),
    );
    const elapsed = Date.now() - t0;
    expect(s.transactions).toHaveLength(connections * perConnection);
    expect(s.duplicates()).toEqual([]);
    expect(s.countByUser().get('user0')).toBe(250);
    expect((connections * perConnection * 1000) / elapsed).toBeGreaterThan(200);
  });

  it('close() disconnects idle clients and frees the port', async () => {
    const s = await startSmtpSink();
    const client = await connect(s);
    await s.close();
    await expect(client.read()).resolves.toMatchObject({ code: 421 });
    const again = await startSmtpSink({ port: s.port });
    await again.close();
  });
});
