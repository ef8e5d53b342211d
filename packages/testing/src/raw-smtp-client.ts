import net from 'node:net';

/** A reply: code and the text of every line (without the code). */
export interface RawReply {
  code: number;
  lines: string[];
  /** The last line as sent, e.g. `535 5.7.8 Authentication credentials invalid`. */
  last: string;
}

/**
 * A minimal SMTP client over a raw socket, for testing the sink without a mail library.
 * Not part of the public API.
 */
export class RawSmtpClient {
  private buffer = '';
  private pendingLines: string[] = [];
  private readonly replies: RawReply[] = [];
  private readonly readers: Array<{ resolve: (r: RawReply) => void; reject: (e: Error) => void }> = [];
  private closedError: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (data: string) => this.onData(data));
    const onGone = (err?: Error): void => {
      this.closedError = err ?? new Error('connection closed');
      for (const reader of this.readers.splice(0)) reader.reject(this.closedError);
    };
    socket.on('error', onGone);
    socket.on('close', () => onGone());
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<{ client: RawSmtpClient; greeting: RawReply }> {
    const socket = net.connect({ port, host });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RawSmtpClient(socket);
    return { client, greeting: await client.read() };
  }

  read(): Promise<RawReply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => this.readers.push({ resolve, reject }));
  }

  command(line: string): Promise<RawReply> {
    this.socket.write(`${line}\r\n`);
    return this.read();
  }

  authPlain(user: string, password: string): Promise<RawReply> {
    return this.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString('base64')}`);
  }

  /** MAIL, RCPT for each, DATA and the dot-stuffed body; returns the reply to each step. */
  async transaction(from: string, to: string[], message: string): Promise<{ mail: RawReply; rcpt: RawReply[]; data?: RawReply; end?: RawReply }> {
    const mail = await this.command(`MAIL FROM:<${from}>`);
    const rcpt: RawReply[] = [];
    for (const address of to) rcpt.push(await this.command(`RCPT TO:<${address}>`));
    if (mail.code !== 250 || !rcpt.some((r) => r.code === 250)) return { mail, rcpt };
    const data = await this.command('DATA');
    if (data.code !== 354) return { mail, rcpt, data };
    const body = message.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    const end = await this.command(`${body}${body.endsWith('\r\n') ? '' : '\r\n'}.`);
    return { mail, rcpt, data, end };
  }

  async quit(): Promise<void> {
    if (!this.closedError) await this.command('QUIT').catch(() => undefined);
    this.socket.destroy();
  }

  private onData(data: string): void {
    this.buffer += data;
    let newline: number;
    while ((newline = this.buffer.indexOf('\r\n')) >= 0) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + 2);
      this.pendingLines.push(line.slice(4));
      if (line[3] === '-') continue;
      const reply: RawReply = { code: Number(line.slice(0, 3)), lines: this.pendingLines, last: line };
      this.pendingLines = [];
      const reader = this.readers.shift();
      if (reader) reader.resolve(reply);
      else this.replies.push(reply);
    }
  }
}
