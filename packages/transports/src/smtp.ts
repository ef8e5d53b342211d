import type { TlsMode } from '@postbus/contracts';
import { SmtpProtocolError, SmtpWire, dataBlock, type Reply } from './smtp-client.js';

export interface SmtpAccountSettings {
  readonly host: string;
  readonly port: number;
  readonly tls: TlsMode;
  readonly user: string;
  readonly password: string;
  /** Our name in EHLO. */
  readonly clientName?: string;
  readonly timeoutMs?: number;
  /** For tests against self-signed servers only. */
  readonly rejectUnauthorized?: boolean;
}

export type SmtpPhase = 'connect' | 'greeting' | 'tls' | 'auth' | 'mail' | 'rcpt' | 'data' | 'message';

/**
 * A failed send. `delivered` says what we know of the server having the message:
 * 'no' (refused or never started) or 'unknown' (the connection broke after the message
 * began to stream: the window DESIGN.md calls `uncertain`).
 */
export class SmtpSendError extends Error {
  constructor(
    message: string,
    readonly phase: SmtpPhase,
    readonly delivered: 'no' | 'unknown',
    readonly replyCode?: number,
    readonly response?: string,
    readonly errorCode?: string,
  ) {
    super(message);
    this.name = 'SmtpSendError';
  }
}

export interface SmtpSendResult {
  readonly replyCode: number;
  readonly response: string;
}

const COMMAND_PHASE: Record<string, SmtpPhase> = {
  CONN: 'connect',
  EHLO: 'greeting',
  HELO: 'greeting',
  LHLO: 'greeting',
  STARTTLS: 'tls',
  'MAIL FROM': 'mail',
  'RCPT TO': 'rcpt',
  DATA: 'data',
};

/**
 * One SMTP session for one account, reused from message to message: the seed's "one
 * worker, one session". Our own small client (smtp-client.ts) so that nothing is retried
 * behind our back, we decide before each MAIL FROM whether we may still send, and a message
 * costs two writes: MAIL, RCPT and DATA pipelined (RFC 2920) where the server offers it, then
 * the message with its final dot. Given the next message's envelope, its MAIL, RCPT and DATA go
 * in the same write as this message (RFC 2920 lets message content open a group), so a message
 * of a run costs one round trip. A server keeps nothing before a message's final dot: a
 * transaction left waiting at DATA is ended by dropping the connection, never by a dot.
 */
export interface SmtpEnvelope {
  readonly from: string;
  readonly to: readonly string[];
}

export class SmtpSession {
  private wire: SmtpWire | undefined;
  private connecting: Promise<SmtpWire> | undefined;
  private capabilities = new Set<string>();
  /** The envelope whose MAIL, RCPT and DATA went behind the last message, and the wire they went on. */
  private prepared: { readonly key: string; readonly wire: SmtpWire } | undefined;

  constructor(private readonly settings: SmtpAccountSettings) {}

  get connected(): boolean {
    return this.wire !== undefined && !this.wire.closed;
  }

  /**
   * Sends one raw message. `mayStart` is asked just before MAIL FROM (after any connect and
   * login): false aborts with nothing sent (a lease that ran out, a stopping worker). `next`,
   * the envelope the caller means to send next, goes behind this message where the server
   * pipelines; the next `send` with that envelope finds it answered. Sent with any other
   * envelope, or not sent at all, the waiting transaction ends with the connection.
   */
  async send(envelope: SmtpEnvelope, raw: Buffer, mayStart: () => boolean = () => true, next?: SmtpEnvelope): Promise<SmtpSendResult> {
    const p = this.prepared;
    this.prepared = undefined;
    const sent = p !== undefined && p.wire === this.wire && !p.wire.closed && p.key === envelopeKey(envelope);
    if (p && !sent) this.close();
    const wire = sent ? p.wire : await this.open();
    if (!mayStart()) {
      if (sent) this.close();
      throw new SmtpSendError('not allowed to start a transaction now', 'mail', 'no', undefined, undefined, 'ENOTSTARTED');
    }
    let answered: EnvelopeReplies | undefined;
    if (sent) {
      try {
        answered = await readEnvelope(wire, envelope.to.length);
      } catch (err) {
        this.close();
        // The connection ended before the server answered the pipelined envelope (it closed
        // an idle session, say): nothing was sent, so the message starts over on a new one.
        if (err instanceof SmtpProtocolError && err.errorCode !== 'ETIMEDOUT') return this.send(envelope, raw, mayStart, next);
        throw toSendError(err, false);
      }
    }
    let streaming = false;
    let behind = '';
    try {
      let replies: EnvelopeReplies;
      if (answered) {
        replies = answered;
      } else if (this.capabilities.has('PIPELINING')) {
        wire.write(envelopeCommands(envelope));
        replies = await readEnvelope(wire, envelope.to.length);
      } else {
        const mail = await wire.command(`MAIL FROM:<${envelope.from}>`, 'MAIL FROM');
        const rcpts: Reply[] = [];
        let data: Reply | undefined;
        if (mail.code === 250) {
          for (const r of envelope.to) rcpts.push(await wire.command(`RCPT TO:<${r}>`, 'RCPT TO'));
          if (rcpts.every(ok)) data = await wire.command('DATA');
        }
        replies = { mail, rcpts, data };
      }
      const { mail, rcpts, data } = replies;
      const refused = !ok(mail) ? { phase: 'mail' as const, reply: mail } : rcpts.find((r) => !ok(r)) ? { phase: 'rcpt' as const, reply: rcpts.find((r) => !ok(r))! } : undefined;
      if (refused || !data || data.code !== 354) {
        // A server that said 354 after refusing the envelope gets an empty, invalid transaction ended.
        if (data?.code === 354) await wire.command('.', 'DATA');
        const r = refused ?? { phase: 'data' as const, reply: data! };
        throw new SmtpSendError('transaction refused', r.phase, 'no', r.reply.code, `${r.reply.code} ${r.reply.text}`);
      }
      // Asked again before the message itself: a lease that ran out while the envelope was
      // answered must not let the body go (the connection is dropped, the server discards it).
      if (!mayStart()) throw new SmtpSendError('not allowed to send the message now', 'data', 'no', undefined, undefined, 'ENOTSTARTED');
      streaming = true; // from here on the server may keep the message
      // The next transaction starts only if one may start now; its body waits for its own send.
      behind = next && this.capabilities.has('PIPELINING') && mayStart() ? envelopeCommands(next) : '';
      wire.write(behind ? Buffer.concat([dataBlock(raw), Buffer.from(behind, 'utf8')]) : dataBlock(raw));
      const final = await wire.read('DATA');
      if (final.code !== 250) throw new SmtpSendError('message refused', 'message', 'no', final.code, `${final.code} ${final.text}`);
      if (next && behind) this.prepared = { key: envelopeKey(next), wire };
      return { replyCode: final.code, response: `${final.code} ${final.text}`.slice(0, 1000) };
    } catch (err) {
      const e = toSendError(err, streaming);
      // A next envelope waiting behind a refused message would answer RSET: the connection goes.
      if (behind || e.delivered === 'unknown' || e.replyCode === undefined || e.replyCode === 421 || !(await this.reset())) this.close();
      throw e;
    }
  }

  close(): void {
    this.wire?.close();
    this.wire = undefined;
    this.connecting = undefined;
    this.prepared = undefined;
  }

  private async reset(): Promise<boolean> {
    try {
      return (await this.wire?.command('RSET'))?.code === 250;
    } catch {
      return false;
    }
  }

  private open(): Promise<SmtpWire> {
    if (this.wire && !this.wire.closed) return Promise.resolve(this.wire);
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<SmtpWire> {
    const s = this.settings;
    const name = s.clientName ?? 'localhost';
    let wire: SmtpWire | undefined;
    try {
      wire = await SmtpWire.open({
        host: s.host,
        port: s.port,
        implicitTls: s.tls === 'implicit',
        timeoutMs: s.timeoutMs ?? 60_000,
        rejectUnauthorized: s.rejectUnauthorized ?? true,
      });
      const greeting = await wire.read('CONN');
      if (greeting.code !== 220) throw new SmtpProtocolError('greeting refused', 'EHLO', greeting);
      let caps = await ehlo(wire, name);
      if (s.tls === 'starttls') {
        if (!caps.has('STARTTLS')) throw new SmtpProtocolError('the server does not offer STARTTLS', 'STARTTLS', undefined, 'ETLS');
        const r = await wire.command('STARTTLS');
        if (r.code !== 220) throw new SmtpProtocolError('STARTTLS refused', 'STARTTLS', r, 'ETLS');
        await wire.upgrade(s.host);
        caps = await ehlo(wire, name);
      }
      if (s.user) await login(wire, caps, s.user, s.password);
      this.capabilities = caps;
      this.wire = wire;
      return wire;
    } catch (err) {
      wire?.close();
      throw toSendError(err, false);
    }
  }
}

const ok = (r: Reply) => r.code === 250 || r.code === 251;

interface EnvelopeReplies {
  readonly mail: Reply;
  readonly rcpts: readonly Reply[];
  readonly data: Reply | undefined;
}

function envelopeKey(e: SmtpEnvelope): string {
  return [e.from, ...e.to].join('\n');
}

/** MAIL, RCPT and DATA as one group (RFC 2920: DATA ends a group). */
function envelopeCommands(e: SmtpEnvelope): string {
  return `MAIL FROM:<${e.from}>\r\n${e.to.map((r) => `RCPT TO:<${r}>\r\n`).join('')}DATA\r\n`;
}

/** The replies to a pipelined envelope, in order. */
async function readEnvelope(wire: SmtpWire, rcptCount: number): Promise<EnvelopeReplies> {
  const mail = await wire.read('MAIL FROM');
  const rcpts: Reply[] = [];
  for (let i = 0; i < rcptCount; i++) rcpts.push(await wire.read('RCPT TO'));
  return { mail, rcpts, data: await wire.read('DATA') };
}

async function ehlo(wire: SmtpWire, name: string): Promise<Set<string>> {
  const r = await wire.command(`EHLO ${name}`, 'EHLO');
  if (r.code === 250) return new Set(r.text.split('\n').slice(1).map((l) => l.trim().toUpperCase()).flatMap((l) => [l, l.split(' ')[0]!]));
  const h = await wire.command(`HELO ${name}`, 'HELO');
  if (h.code !== 250) throw new SmtpProtocolError('HELO refused', 'EHLO', h);
  return new Set();
}

/** AUTH PLAIN, or LOGIN where PLAIN is not offered. Errors carry the server's reply, never the credentials. */
async function login(wire: SmtpWire, caps: Set<string>, user: string, password: string): Promise<void> {
  const mechanisms = new Set([...caps].filter((c) => c.startsWith('AUTH ') || c.startsWith('AUTH=')).flatMap((c) => c.slice(5).split(' ')));
  const b64 = (v: string) => Buffer.from(v, 'utf8').toString('base64');
  let r: Reply;
  if (mechanisms.has('PLAIN') || !mechanisms.has('LOGIN')) {
    r = await wire.command(`AUTH PLAIN ${b64(`\u0000${user}\u0000${password}`)}`, 'AUTH PLAIN');
  } else {
    r = await wire.command('AUTH LOGIN', 'AUTH LOGIN');
    if (r.code === 334) r = await wire.command(b64(user), 'AUTH LOGIN');
    if (r.code === 334) r = await wire.command(b64(password), 'AUTH LOGIN');
  }
  // 235 is the standard answer; like nodemailer, accept any 2xx (some sinks answer 250).
  if (r.code < 200 || r.code > 299) throw new SmtpProtocolError('authentication failed', 'AUTH', r, 'EAUTH');
}

function toSendError(err: unknown, streaming: boolean): SmtpSendError {
  if (err instanceof SmtpSendError) return err;
  const e = err as { message?: string; command?: string; reply?: Reply; errorCode?: string; code?: string };
  const command = e.command ?? '';
  let phase: SmtpPhase = COMMAND_PHASE[command] ?? (command.startsWith('AUTH') ? 'auth' : 'connect');
  if (streaming) phase = 'message';
  // Without a reply after the message began, we cannot know whether the server kept it.
  const delivered = streaming && !e.reply ? 'unknown' : 'no';
  return new SmtpSendError(
    (e.message ?? 'smtp error').replace(/\s+/g, ' ').slice(0, 300),
    phase,
    delivered,
    e.reply?.code,
    e.reply ? `${e.reply.code} ${e.reply.text}`.slice(0, 1000) : undefined,
    e.errorCode ?? e.code,
  );
}
