import net from 'node:net';
import tls from 'node:tls';

/** One reply: its code and its lines (without the code). */
export interface Reply {
  readonly code: number;
  readonly text: string;
}

export class SmtpProtocolError extends Error {
  constructor(
    message: string,
    readonly command: string,
    readonly reply?: Reply,
    readonly errorCode?: string,
  ) {
    super(reply ? `${message}: ${reply.code} ${reply.text}` : message);
    this.name = 'SmtpProtocolError';
  }
}

export interface ClientOptions {
  readonly host: string;
  readonly port: number;
  readonly implicitTls: boolean;
  readonly timeoutMs: number;
  readonly rejectUnauthorized: boolean;
}

/**
 * The wire under an SMTP session: a socket (TCP_NODELAY), a reply reader that keeps replies
 * that arrive before anyone asks (pipelining), and a timeout on every wait. It knows nothing
 * of what the commands mean; the session does.
 */
export class SmtpWire {
  private socket: net.Socket | tls.TLSSocket;
  private buffer = '';
  private lines: string[] = [];
  private readonly ready: Reply[] = [];
  private waiter: { resolve: (r: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  private failure: Error | undefined;

  private constructor(socket: net.Socket | tls.TLSSocket, private readonly opts: ClientOptions) {
    this.socket = socket;
    this.attach(socket);
  }

  static async open(opts: ClientOptions): Promise<SmtpWire> {
    const socket = await new Promise<net.Socket | tls.TLSSocket>((resolve, reject) => {
      const s = opts.implicitTls
        ? tls.connect({ host: opts.host, port: opts.port, servername: net.isIP(opts.host) ? undefined : opts.host, rejectUnauthorized: opts.rejectUnauthorized })
        : net.connect({ host: opts.host, port: opts.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new SmtpProtocolError('connection timeout', 'CONN', undefined, 'ETIMEDOUT'));
      }, opts.timeoutMs);
      s.once(opts.implicitTls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new SmtpProtocolError(err.message, 'CONN', undefined, err.code ?? 'ECONNECTION'));
      });
    });
    socket.setNoDelay(true);
    return new SmtpWire(socket, opts);
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  private attach(s: net.Socket | tls.TLSSocket): void {
    s.on('data', (d: Buffer) => this.onData(d));
    s.on('error', (err: NodeJS.ErrnoException) => this.fail(new SmtpProtocolError(err.message, 'CONN', undefined, err.code ?? 'ESOCKET')));
    s.on('close', () => this.fail(new SmtpProtocolError('connection closed', 'CONN', undefined, 'ECONNECTION')));
  }

  private onData(d: Buffer): void {
    this.buffer += d.toString('latin1');
    let i: number;
    while ((i = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, i).replace(/\r$/, '');
      this.buffer = this.buffer.slice(i + 1);
      if (!/^\d{3}[ -]?/.test(line)) {
        this.fail(new SmtpProtocolError(`unexpected reply line ${JSON.stringify(line.slice(0, 100))}`, 'CONN', undefined, 'EPROTOCOL'));
        return;
      }
      this.lines.push(line.slice(4));
      if (line[3] !== '-') {
        const reply = { code: Number(line.slice(0, 3)), text: this.lines.join('\n') };
        this.lines = [];
        const w = this.waiter;
        if (w) {
          this.waiter = undefined;
          clearTimeout(w.timer);
          w.resolve(reply);
        } else {
          this.ready.push(reply);
        }
      }
    }
    if (this.buffer.length > 64 * 1024) this.fail(new SmtpProtocolError('reply too long', 'CONN', undefined, 'EPROTOCOL'));
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    const w = this.waiter;
    this.waiter = undefined;
    if (w) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.socket.destroy();
  }

  /** The next reply (one already received, or the next to arrive). */
  read(command: string): Promise<Reply> {
    const r = this.ready.shift();
    if (r) return Promise.resolve(r);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new SmtpProtocolError(`timeout waiting for the reply to ${command}`, command, undefined, 'ETIMEDOUT')), this.opts.timeoutMs);
      this.waiter = { resolve, reject, timer };
    });
  }

  write(data: string | Buffer): void {
    if (this.failure) throw this.failure;
    this.socket.write(data);
  }

  async command(line: string, name = line.split(' ')[0] ?? line): Promise<Reply> {
    this.write(`${line}\r\n`);
    return this.read(name);
  }

  /** STARTTLS: the same wire, now encrypted. */
  async upgrade(host: string): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: plain, servername: net.isIP(host) ? undefined : host, rejectUnauthorized: this.opts.rejectUnauthorized });
      s.once('secureConnect', () => resolve(s));
      s.once('error', (err: NodeJS.ErrnoException) => reject(new SmtpProtocolError(err.message, 'STARTTLS', undefined, 'ETLS')));
    });
    this.socket = secure;
    this.attach(secure);
  }

  /**
   * Ends the session. Between transactions it says QUIT; while a reply is awaited (the lease
   * cutoff) it drops the connection at once — nothing more reaches the server — and fails the
   * wait, so the send ends now rather than never: `fail()` does nothing once `failure` is set.
   */
  close(): void {
    if (this.failure) return;
    if (this.waiter) {
      this.fail(new SmtpProtocolError('closed while waiting for a reply', 'CONN', undefined, 'ECONNECTION'));
      return;
    }
    try {
      this.socket.end('QUIT\r\n');
    } catch {
      // already gone
    }
    this.failure = new SmtpProtocolError('closed', 'CONN', undefined, 'ECONNECTION');
    setTimeout(() => this.socket.destroy(), 1_000).unref();
  }
}

/** RFC 5321 4.5.2: a line that starts with a dot gets another; the message ends with CRLF.CRLF. */
export function dataBlock(raw: Buffer): Buffer {
  let body = raw;
  if (raw[0] === 0x2e || raw.includes('\n.')) body = Buffer.from(raw.toString('latin1').replace(/(^|\n)\./g, '$1..'), 'latin1');
  const endsWithCrlf = body.length >= 2 && body[body.length - 2] === 0x0d && body[body.length - 1] === 0x0a;
  return Buffer.concat([body, Buffer.from(endsWithCrlf ? '.\r\n' : '\r\n.\r\n')]);
}
