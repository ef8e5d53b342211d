import type { Logger } from 'pino';
import { stopTracing } from './tracing.js';

/**
 * Graceful stop on SIGTERM or SIGINT: runs the steps once, in order (each one's failure is
 * logged and the next still runs), flushes traces, then exits. A second signal while stopping exits at once.
 */
export function onShutdown(log: Logger, steps: ReadonlyArray<() => unknown>, exit: (code: number) => void = (code) => process.exit(code)): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      exit(1);
      return;
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    let code = 0;
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        code = 1;
        log.error({ err }, 'a shutdown step failed');
      }
    }
    // Last: spans of the steps above are exported too.
    await stopTracing().catch((err: unknown) => log.warn({ err }, 'traces not flushed'));
    log.info('stopped');
    exit(code);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
