import type { ChildProcess } from 'node:child_process';

const cleanups = new Set<() => void>();
let installed = false;

function runCleanups(): void {
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // best effort: the process is going away anyway
    }
  }
}

/** A signal kills without 'exit': clean up, then die of the same signal unless someone else handles it. */
function onSignal(signal: NodeJS.Signals): void {
  runCleanups();
  if (process.listenerCount(signal) === 1) {
    process.off(signal, onSignal);
    process.kill(process.pid, signal);
  }
}

/**
 * Runs fn synchronously when this process exits (or is stopped by SIGINT, SIGTERM, SIGHUP), so a
 * test that forgot stop() or crashed leaves no server behind. Returns an unregister function.
 */
export function onProcessExit(fn: () => void): () => void {
  if (!installed) {
    installed = true;
    process.on('exit', runCleanups);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
  }
  cleanups.add(fn);
  return () => {
    cleanups.delete(fn);
  };
}

/** Keeps the last few KB of a child's output, for error messages. */
export class OutputTail {
  private text = '';
  private listeners = new Set<(text: string) => void>();
  constructor(private readonly limit = 8192) {}

  attach(child: ChildProcess): void {
    const push = (chunk: Buffer): void => {
      this.text = (this.text + chunk.toString('utf8')).slice(-this.limit);
      for (const listener of this.listeners) listener(this.text);
    };
    child.stdout?.on('data', push);
    child.stderr?.on('data', push);
  }

  /** Resolves once the output so far contains `needle` (the text may be trimmed by then). */
  contains(needle: string): Promise<void> {
    return new Promise((resolve) => {
      if (this.text.includes(needle)) return resolve();
      const listener = (text: string): void => {
        if (text.includes(needle)) {
          this.listeners.delete(listener);
          resolve();
        }
      };
      this.listeners.add(listener);
    });
  }

  toString(): string {
    return this.text;
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** A promise of the child's exit that also settles when spawning failed (ENOENT, EACCES). */
export function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
  });
}

/** Waits for exit, escalating to SIGKILL after graceMs. */
export async function waitExit(child: ChildProcess, exited: Promise<Exit>, graceMs: number): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined;
  const escalate = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, graceMs);
  });
  const first = await Promise.race([exited, escalate.then(() => undefined)]);
  clearTimeout(timer);
  if (first) return first;
  child.kill('SIGKILL');
  return exited;
}
