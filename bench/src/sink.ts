import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort, startSmtpSink, waitFor } from '@postbus/testing';
import { connect } from 'node:net';

export interface BenchSink {
  readonly port: number;
  readonly pid: number | undefined;
  readonly kind: string;
  close(): Promise<void>;
}

const SMTP_SINK = '/usr/sbin/smtp-sink';

/** Postfix's smtp-sink when installed (apt-get install postfix), else the Node sink from packages/testing. */
export async function startBenchSink(): Promise<BenchSink> {
  if (existsSync(SMTP_SINK)) {
    const port = await freePort();
    const args = [...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []), '-m', '1000', `127.0.0.1:${port}`, '1000'];
    const child: ChildProcess = spawn(SMTP_SINK, args, { stdio: 'ignore' });
    await waitFor(() => new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    }), { timeoutMs: 5_000, message: 'smtp-sink did not start' });
    return {
      port,
      pid: child.pid,
      kind: 'postfix smtp-sink',
      close: async () => {
        child.kill('SIGTERM');
      },
    };
  }
  const sink = await startSmtpSink({ maxClients: 1000 });
  return { port: sink.port, pid: process.pid, kind: 'node smtp-server (install postfix for smtp-sink)', close: () => sink.close() };
}
