import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMailServer, startSmtpSink, type MailServer, type SmtpSink } from '@postbus/testing';
import { SmtpSendError, SmtpSession } from './smtp.js';
import { dataBlock } from './smtp-client.js';

const raw = (id: string, body = 'Hello.\r\n') => Buffer.from(`From: a@sender.test\r\nTo: b@receiver.test\r\nSubject: t\r\nMessage-ID: <${id}@sender.test>\r\n\r\n${body}`);
const envelope = { from: 'a@sender.test', to: ['b@receiver.test'] };

describe('SmtpSession against a real SMTP server', () => {
  let sink: SmtpSink;
  beforeAll(async () => {
    sink = await startSmtpSink({
      auth: { alice: 'right password' },
      onRcpt: (addr) => (addr.startsWith('unknown') ? { code: 550, message: '5.1.1 User unknown' } : addr.startsWith('grey') ? { code: 451, message: '4.7.1 Try later' } : undefined),
      onData: (tx) => (tx.raw.includes('SPAM') ? { code: 554, message: '5.7.1 Rejected as spam' } : undefined),
    });
  });
  afterAll(async () => {
    await sink.close();
  });
  const session = (password = 'right password') => new SmtpSession({ host: '127.0.0.1', port: sink.port, tls: 'none', user: 'alice', password, timeoutMs: 5_000 });

  it('sends several messages over one session, as the authenticated user', async () => {
    const s = session();
    for (let i = 0; i < 5; i++) expect((await s.send(envelope, raw(`m${i}`))).replyCode).toBe(250);
    s.close();
    const mine = sink.transactions.filter((t) => t.messageId?.startsWith('<m'));
    expect(mine.map((t) => t.user)).toEqual(['alice', 'alice', 'alice', 'alice', 'alice']);
    expect(new Set(mine.map((t) => t.sessionId)).size).toBe(1);
  });

  it('keeps a message whose lines start with a dot intact', async () => {
    const s = session();
    await s.send(envelope, raw('dots', '.leading dot\r\n..two\r\n.\r\nend\r\n'));
    s.close();
    const t = sink.transactions.find((x) => x.messageId === '<dots@sender.test>')!;
    expect(t.raw.toString()).toContain('\r\n.leading dot\r\n..two\r\n.\r\nend\r\n');
  });

  it('reports a refused password as an auth failure with the reply, never the password', async () => {
    const err = (await session('wrong secret').send(envelope, raw('x')).catch((e: unknown) => e)) as SmtpSendError;
    expect(err).toBeInstanceOf(SmtpSendError);
    expect(err).toMatchObject({ phase: 'auth', replyCode: 535, delivered: 'no' });
    expect(JSON.stringify({ ...err, message: err.message })).not.toContain('wrong secret');
  });

  it('reports recipient and content refusals, and the session stays usable', async () => {
    const s = session();
    await expect(s.send({ ...envelope, to: ['unknown@receiver.test'] }, raw('u'))).rejects.toMatchObject({ phase: 'rcpt', replyCode: 550, delivered: 'no' });
    await expect(s.send({ ...envelope, to: ['grey@receiver.test'] }, raw('g'))).rejects.toMatchObject({ phase: 'rcpt', replyCode: 451 });
    await expect(s.send(envelope, raw('s', 'SPAM\r\n'))).rejects.toMatchObject({ phase: 'message', replyCode: 554, delivered: 'no' });
    expect((await s.send(envelope, raw('after'))).replyCode).toBe(250);
    s.close();
  });

  it('does not start a transaction when it may not', async () => {
    const s = session();
    await expect(s.send(envelope, raw('no'), () => false)).rejects.toMatchObject({ errorCode: 'ENOTSTARTED', delivered: 'no' });
    s.close();
    expect(sink.transactions.some((t) => t.messageId === '<no@sender.test>')).toBe(false);
  });

  it('reports an unreachable server as a connection failure', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const s = new SmtpSession({ host: '127.0.0.1', port, tls: 'none', user: '', password: '', timeoutMs: 2_000 });
    await expect(s.send(envelope, raw('x'))).rejects.toMatchObject({ phase: 'connect', errorCode: 'ECONNREFUSED', delivered: 'no' });
  });
});

describe('the next envelope behind the message (RFC 2920)', () => {
  let sink: SmtpSink;
  beforeAll(async () => {
    sink = await startSmtpSink({
      onRcpt: (addr) => (addr.startsWith('unknown') ? { code: 550, message: '5.1.1 User unknown' } : undefined),
      onData: (tx) => (tx.raw.includes('SPAM') ? { code: 554, message: '5.7.1 Rejected as spam' } : undefined),
    });
  });
  afterAll(async () => {
    await sink.close();
  });
  const session = () => new SmtpSession({ host: '127.0.0.1', port: sink.port, tls: 'none', user: '', password: '', timeoutMs: 5_000 });
  const to = (who: string) => ({ from: 'a@sender.test', to: [`${who}@receiver.test`] });
  const seen = (id: string) => sink.transactions.filter((t) => t.messageId === `<${id}@sender.test>`);

  it('sends a run of messages over one session, each once, to its own recipient', async () => {
    const s = session();
    const names = ['r0', 'r1', 'r2', 'r3', 'r4'];
    for (let i = 0; i < names.length; i++) {
      const next = names[i + 1];
      expect((await s.send(to(names[i]!), raw(`run-${names[i]}`), () => true, next ? to(next) : undefined)).replyCode).toBe(250);
    }
    s.close();
    for (const n of names) expect(seen(`run-${n}`).map((t) => t.rcptTo)).toEqual([[`${n}@receiver.test`]]);
    expect(new Set(names.flatMap((n) => seen(`run-${n}`).map((t) => t.sessionId))).size).toBe(1);
  });

  it('reports a refusal of the waiting envelope as that message’s, and goes on', async () => {
    const s = session();
    await s.send(to('p1'), raw('ref-1'), () => true, to('unknown'));
    await expect(s.send(to('unknown'), raw('ref-2'), () => true, to('p3'))).rejects.toMatchObject({ phase: 'rcpt', replyCode: 550, delivered: 'no' });
    expect((await s.send(to('p3'), raw('ref-3'))).replyCode).toBe(250);
    // A message refused at its dot with an envelope waiting behind it: the next still goes, once.
    await s.send(to('p4'), raw('ref-4', 'SPAM\r\n'), () => true, to('p5')).catch((e: unknown) => expect(e).toMatchObject({ phase: 'message', replyCode: 554, delivered: 'no' }));
    expect((await s.send(to('p5'), raw('ref-5'))).replyCode).toBe(250);
    s.close();
    expect(seen('ref-2')).toEqual([]);
    expect(seen('ref-4')).toEqual([]);
    for (const id of ['ref-1', 'ref-3', 'ref-5']) expect(seen(id)).toHaveLength(1);
  });

  it('ends a waiting transaction by dropping the connection when another message comes, or none may start', async () => {
    const s = session();
    await s.send(to('w1'), raw('wait-1'), () => true, to('w2'));
    // Not the envelope that waits (the worker did not get to mark it): a new connection, nothing for w2.
    expect((await s.send(to('w3'), raw('wait-3'), () => true, to('w4'))).replyCode).toBe(250);
    await expect(s.send(to('w4'), raw('wait-4'), () => false)).rejects.toMatchObject({ errorCode: 'ENOTSTARTED', delivered: 'no' });
    expect(s.connected).toBe(false);
    s.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(sink.transactions.filter((t) => t.rcptTo.includes('w2@receiver.test') || t.rcptTo.includes('w4@receiver.test'))).toEqual([]);
    expect(seen('wait-1')).toHaveLength(1);
    expect(seen('wait-3')).toHaveLength(1);
    expect(seen('wait-1')[0]!.sessionId).not.toBe(seen('wait-3')[0]!.sessionId);
  });
});

describe('the next envelope behind the message, against Postfix’s smtpd', () => {
  let mail: MailServer;
  beforeAll(async () => {
    mail = await startMailServer({ users: [{ user: 'ann', password: 'ann password 1' }, { user: 'bob', password: 'bob password 1' }] });
  }, 60_000);
  afterAll(async () => {
    await mail?.stop();
  });
  const run = async (label: string, auth: boolean) => {
    const s = new SmtpSession({ host: '127.0.0.1', port: mail.smtpPort, tls: 'none', user: auth ? 'ann' : '', password: auth ? 'ann password 1' : '', timeoutMs: 5_000 });
    const rcpts = [mail.address('ann'), mail.address('bob'), mail.address('ann'), mail.address('bob')];
    const replies: string[] = [];
    for (let i = 0; i < rcpts.length; i++) {
      const next = rcpts[i + 1] ? { from: 'x@sender.test', to: [rcpts[i + 1]!] } : undefined;
      replies.push((await s.send({ from: 'x@sender.test', to: [rcpts[i]!] }, raw(`${label}-${i}`), () => true, next)).response);
    }
    s.close();
    return replies;
  };

  it('is taken, with and without AUTH, also where smtpd disconnects clients that pipeline out of turn (the default from Postfix 3.9)', async () => {
    for (const auth of [false, true]) {
      const replies = await run(`pf-${auth}`, auth);
      expect(replies.every((r) => /^250 2\.0\.0 Ok: queued as \w+/.test(r))).toBe(true);
      expect(new Set(replies).size).toBe(4);
    }
    execFileSync('postconf', ['-c', `${mail.dir}/postfix`, '-e', 'smtpd_forbid_unauth_pipelining=yes']);
    execFileSync('postfix', ['-c', `${mail.dir}/postfix`, 'reload']);
    expect(execFileSync('postconf', ['-c', `${mail.dir}/postfix`, '-h', 'smtpd_forbid_unauth_pipelining']).toString().trim()).toBe('yes');
    for (const auth of [false, true]) {
      const replies = await run(`pf-forbid-${auth}`, auth);
      expect(replies.every((r) => /^250 2\.0\.0 Ok: queued as \w+/.test(r))).toBe(true);
    }
    expect(mail.logs()).not.toMatch(/synchronization|improper command pipelining/i);
  }, 60_000);
});

describe('the next envelope on the wire', () => {
  /** A raw server: answers each group as it comes; `closeAfterDot` hangs up after answering the first message. */
  async function rawServer(opts: { closeAfterDot?: boolean } = {}) {
    const chunks: string[] = [];
    const messages: string[] = [];
    const server = net.createServer((c) => {
      c.write('220 hi\r\n');
      let inData = false;
      let pending = '';
      c.on('data', (d) => {
        chunks.push(d.toString());
        if (c.writableEnded) return; // hung up: what follows is never answered
        pending += d.toString();
        for (;;) {
          if (inData) {
            const end = pending.indexOf('\r\n.\r\n');
            if (end < 0) return;
            messages.push(pending.slice(0, end));
            pending = pending.slice(end + 5);
            inData = false;
            c.write('250 2.0.0 queued\r\n');
            if (opts.closeAfterDot) {
              c.end();
              return;
            }
            continue;
          }
          const nl = pending.indexOf('\r\n');
          if (nl < 0) return;
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 2);
          if (line.startsWith('EHLO')) c.write('250-hi\r\n250 PIPELINING\r\n');
          else if (line === 'DATA') {
            c.write('354 go\r\n');
            inData = true;
          } else c.write('250 ok\r\n');
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    return { port, chunks, messages, close: () => new Promise<void>((r) => server.close(() => r())) };
  }

  it('goes in the same write as the message before it, after its final dot', async () => {
    const srv = await rawServer();
    const s = new SmtpSession({ host: '127.0.0.1', port: srv.port, tls: 'none', user: '', password: '', timeoutMs: 2_000 });
    await s.send(envelope, raw('w-1'), () => true, { from: 'a@sender.test', to: ['c@receiver.test'] });
    await s.send({ from: 'a@sender.test', to: ['c@receiver.test'] }, raw('w-2'));
    s.close();
    expect(srv.chunks.some((c) => c.endsWith('\r\n.\r\nMAIL FROM:<a@sender.test>\r\nRCPT TO:<c@receiver.test>\r\nDATA\r\n'))).toBe(true);
    expect(srv.messages).toHaveLength(2);
    await srv.close();
  });

  it('is not sent when no transaction may start (the lease ran out during the message)', async () => {
    const srv = await rawServer();
    const s = new SmtpSession({ host: '127.0.0.1', port: srv.port, tls: 'none', user: '', password: '', timeoutMs: 2_000 });
    let asked = 0;
    await s.send(envelope, raw('l-1'), () => ++asked <= 2, { from: 'a@sender.test', to: ['c@receiver.test'] });
    s.close();
    expect(asked).toBe(3);
    expect(srv.chunks.join('')).not.toContain('RCPT TO:<c@receiver.test>');
    await srv.close();
  });

  it('starts the message over on a new connection when the server hung up before answering the waiting envelope', async () => {
    const srv = await rawServer({ closeAfterDot: true });
    const s = new SmtpSession({ host: '127.0.0.1', port: srv.port, tls: 'none', user: '', password: '', timeoutMs: 2_000 });
    await s.send(envelope, raw('h-1'), () => true, envelope);
    await new Promise((r) => setTimeout(r, 100));
    expect((await s.send(envelope, raw('h-2'))).replyCode).toBe(250);
    s.close();
    expect(srv.messages.map((m) => /Message-ID: <([^@]+)@/.exec(m)?.[1])).toEqual(['h-1', 'h-2']);
    await srv.close();
  });
});

describe('a connection lost after the message began', () => {
  it('is reported as delivered: unknown (the uncertain window)', async () => {
    // A server that reads the whole message and then hangs up without a reply.
    const server = net.createServer((c) => {
      c.write('220 hi\r\n');
      let buf = '';
      c.on('data', (d) => {
        buf += d.toString();
        if (buf.endsWith('EHLO localhost\r\n')) c.write('250-hi\r\n250 PIPELINING\r\n');
        if (buf.includes('DATA\r\n') && !buf.includes('\r\n.\r\n') && buf.endsWith('DATA\r\n')) c.write('250 ok\r\n250 ok\r\n354 go\r\n');
        if (buf.endsWith('\r\n.\r\n')) c.destroy();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const s = new SmtpSession({ host: '127.0.0.1', port, tls: 'none', user: '', password: '', timeoutMs: 2_000 });
    await expect(s.send(envelope, raw('lost'))).rejects.toMatchObject({ phase: 'message', delivered: 'unknown' });
    server.close();
  });
});

describe('a session closed while a reply is awaited (the lease cutoff)', () => {
  it('fails the send at once, as delivered: unknown once the message began, and never hangs', async () => {
    // A server that takes the whole message and never answers it.
    const server = net.createServer((c) => {
      c.write('220 hi\r\n');
      let buf = '';
      c.on('data', (d) => {
        buf += d.toString();
        if (buf.endsWith('EHLO localhost\r\n')) c.write('250-hi\r\n250 PIPELINING\r\n');
        if (buf.endsWith('DATA\r\n') && !buf.includes('\r\n.\r\n')) c.write('250 ok\r\n250 ok\r\n354 go\r\n');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    // The reply timeout is far away: only close() can end the wait.
    const s = new SmtpSession({ host: '127.0.0.1', port, tls: 'none', user: '', password: '', timeoutMs: 60_000 });
    const sending = s.send(envelope, raw('cut'));
    await new Promise((r) => setTimeout(r, 300));
    s.close();
    const outcome = await Promise.race([sending.then(() => 'sent', (e: unknown) => e), new Promise((r) => setTimeout(() => r('still waiting'), 3_000))]);
    expect(outcome).toBeInstanceOf(SmtpSendError);
    expect(outcome).toMatchObject({ phase: 'message', delivered: 'unknown' });
    server.close();
  });
});

describe('dataBlock', () => {
  it('dot-stuffs and terminates', () => {
    expect(dataBlock(Buffer.from('.a\r\nb\r\n.\r\n')).toString()).toBe('..a\r\nb\r\n..\r\n.\r\n');
    expect(dataBlock(Buffer.from('x')).toString()).toBe('x\r\n.\r\n');
  });
});
