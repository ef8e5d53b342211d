import { writeFile } from 'node:fs/promises';
import { SMTPServer } from 'smtp-server';

export interface Catcher {
  readonly host: string;
  readonly port: number;
  /** The files written by this run, in order. */
  readonly files: string[];
  close(): Promise<void>;
}

/** Accepts any AUTH and any mail on 127.0.0.1 (2525 or the next free port) and writes each message to `<dir>/<time>-<n>.eml`. */
export async function startCatcher(dir: string, preferredPort = 2525): Promise<Catcher> {
  const files: string[] = [];
  let n = 0;
  const server = new SMTPServer({
    name: 'postbus-demo-catcher',
    banner: 'Postbus demo SMTP catcher: every message is written to a file',
    logger: false,
    disableReverseLookup: true,
    disabledCommands: ['STARTTLS'],
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: true,
    allowInsecureAuth: true,
    closeTimeout: 1_000,
    onAuth(credentials, _session, callback) {
      callback(null, { user: credentials.username ?? '' });
    },
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.once('error', (err) => callback(err));
      stream.once('end', () => {
        const path = `${dir}/${new Date().toISOString().replace(/[:.]/g, '-')}-${++n}.eml`;
        writeFile(path, Buffer.concat(chunks)).then(
          () => {
            files.push(path);
            callback(null, `OK: written to ${path}`);
          },
          (err: Error) => callback(Object.assign(new Error(`4.3.0 cannot write the message: ${err.message}`), { responseCode: 451 })),
        );
      });
    },
  });
  server.on('error', () => {
    // a client's socket errors are the client's business
  });
  const tryListen = (port: number) =>
    new Promise<number | undefined>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(undefined) : reject(err));
      server.server.once('error', onError);
      server.listen(port, '127.0.0.1', () => {
        server.server.off('error', onError);
        const address = server.server.address();
        resolve(address && typeof address === 'object' ? address.port : undefined);
      });
    });
  let port: number | undefined;
  for (let p = preferredPort; p < preferredPort + 10 && port === undefined; p++) port = await tryListen(p);
  port ??= await tryListen(0);
  if (port === undefined) throw new Error('the SMTP catcher found no free port');
  let closed: Promise<void> | undefined;
  return {
    host: '127.0.0.1',
    port,
    files,
    close: () => (closed ??= new Promise<void>((resolve) => server.close(() => resolve()))),
  };
}
