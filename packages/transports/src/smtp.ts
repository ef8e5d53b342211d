import { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import type { TlsMode } from '@postbus/contracts';

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
 * worker, one session". Built on nodemailer's SMTPConnection directly, so nothing is
 * retried behind our back and we decide, before each MAIL FROM, whether we may still send.
 */
export class SmtpSession {
  private conn: SMTPConnection | undefined;
  private connecting: Promise<SMTPConnection> | undefined;
  private broken: ((err: Error) => void) | undefined;

  constructor(private readonly settings: SmtpAccountSettings) {}

  get connected(): boolean {
    return this.conn !== undefined;
  }

  /**
   * Sends one raw message. `mayStart` is asked just before MAIL FROM (after any connect and
   * login): false aborts with nothing sent (a lease that ran out, a stopping worker).
   */
  async send(envelope: { from: string; to: string[] }, raw: Buffer, mayStart: () => boolean = () => true): Promise<SmtpSendResult> {
    const conn = await this.open();
    if (!mayStart()) throw new SmtpSendError('not allowed to start a transaction now', 'mail', 'no', undefined, undefined, 'ENOTSTARTED');
    let streaming = false;
    const body = new Readable({
      read() {
        streaming = true; // the server answered 354: from here on it may keep the message
        this.push(raw);
        this.push(null);
      },
    });
    try {
      const info = await new Promise<{ response?: string }>((resolve, reject) => {
        this.broken = reject;
        conn.send({ from: envelope.from, to: envelope.to }, body, (err, i) => (err ? reject(err) : resolve(i)));
      });
      const response = info.response ?? '250';
      return { replyCode: Number(/^\d{3}/.exec(response)?.[0] ?? 250), response };
    } catch (err) {
      const e = toSendError(err, streaming);
      if (e.phase === 'connect' || e.delivered === 'unknown' || !(await this.reset())) this.close();
      throw e;
    } finally {
      this.broken = undefined;
    }
  }

  close(): void {
    const c = this.conn;
    this.conn = undefined;
    this.connecting = undefined;
    c?.removeAllListeners();
    c?.on('error', () => undefined);
    c?.close();
  }

  private async reset(): Promise<boolean> {
    const c = this.conn;
    if (!c) return false;
    return new Promise((resolve) => c.reset((err) => resolve(!err)));
  }

  private open(): Promise<SMTPConnection> {
    if (this.conn) return Promise.resolve(this.conn);
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<SMTPConnection> {
    const s = this.settings;
    const timeout = s.timeoutMs ?? 60_000;
    const conn = new SMTPConnection({
      host: s.host,
      port: s.port,
      secure: s.tls === 'implicit',
      requireTLS: s.tls === 'starttls',
      ignoreTLS: s.tls === 'none',
      name: s.clientName,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      logger: false,
      debug: false,
      tls: { rejectUnauthorized: s.rejectUnauthorized ?? true },
    });
    // Connection-level failures arrive as events, not through the send callback.
    conn.on('error', (err: Error) => {
      this.broken?.(err);
      if (this.conn === conn) this.conn = undefined;
    });
    conn.on('end', () => {
      this.broken?.(Object.assign(new Error('connection closed'), { code: 'ECONNECTION', command: 'CONN' }));
      if (this.conn === conn) this.conn = undefined;
    });
    try {
      await new Promise<void>((resolve, reject) => {
        this.broken = reject;
        conn.connect((err?: Error) => (err ? reject(err) : resolve()));
      });
      if (s.user) {
        await new Promise<void>((resolve, reject) => {
          this.broken = reject;
          conn.login({ user: s.user, pass: s.password }, (err) => (err ? reject(err) : resolve()));
        });
      }
    } catch (err) {
      conn.removeAllListeners();
      conn.on('error', () => undefined);
      conn.close();
      throw toSendError(err, false);
    } finally {
      this.broken = undefined;
    }
    // Commands and the message's last line are small writes: without TCP_NODELAY, Nagle's
    // algorithm and the server's delayed ACK cost about 40 ms per message.
    (conn as unknown as { _socket?: { setNoDelay?: (v: boolean) => void } })._socket?.setNoDelay?.(true);
    this.conn = conn;
    return conn;
  }
}

function toSendError(err: unknown, streaming: boolean): SmtpSendError {
  const e = err as { message?: string; code?: string; command?: string; responseCode?: number; response?: string };
  const command = e.command ?? '';
  let phase: SmtpPhase = COMMAND_PHASE[command] ?? (command.startsWith('AUTH') ? 'auth' : 'connect');
  if (streaming) phase = 'message';
  // Without a reply after the message began, we cannot know whether the server kept it.
  const delivered = streaming && !e.responseCode ? 'unknown' : 'no';
  const response = e.response ? String(e.response).slice(0, 1000) : undefined;
  return new SmtpSendError(
    (e.message ?? 'smtp error').replace(/\s+/g, ' ').slice(0, 300),
    phase,
    delivered,
    e.responseCode || undefined,
    response,
    e.code,
  );
}
