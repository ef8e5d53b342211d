import { runCli } from '../cli.js';

/** Where a test's CLI run points: its database, its NATS and its namespace. */
export interface CliTarget {
  readonly databaseUrl: string;
  readonly natsUrl: string;
  readonly namespace: string;
}

/** Runs the CLI as a user would against `target`, with what it wrote to stdout and stderr. */
export async function runCliCaptured(target: CliTarget, argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const env = { POSTBUS_DATABASE_URL: target.databaseUrl, POSTBUS_NATS_URL: target.natsUrl, POSTBUS_NAMESPACE: target.namespace, POSTBUS_LOG_LEVEL: 'warn' };
  const code = await runCli(argv, { stdout: { write: (x: string) => (stdout += x) }, stderr: { write: (x: string) => (stderr += x) }, env });
  return { code, stdout, stderr };
}

/** What `postbus replay` writes per event: one JSON line each. */
export interface ReplayLine<E> {
  readonly stream: string;
  readonly seq: number;
  readonly subject: string;
  readonly time: string;
  readonly event: E;
}

/** Runs `postbus replay …` against `target` and parses its lines. */
export async function runReplay<E>(target: CliTarget, argv: readonly string[]): Promise<{ code: number; lines: ReplayLine<E>[]; stderr: string }> {
  const { code, stdout, stderr } = await runCliCaptured(target, argv);
  return { code, lines: stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as ReplayLine<E>), stderr };
}
