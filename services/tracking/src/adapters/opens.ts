import type { Bus } from '@postbus/bus';
import type { HitSource } from '@postbus/contracts';
import type { TokenKeyring } from '@postbus/secrets';
import type { Logger } from '@postbus/telemetry';
import { LIMITS } from '../deps.js';
import { messageRef, recordedOpen } from '../domain/events.js';
import { classifySource } from '../domain/user-agent.js';
import { OpenRecorder, type OpenRecorderOptions } from './hits.js';

/**
 * Where the pixel hands its opens: a GET's token as it came in the path, the client's
 * User-Agent and when the request arrived (ms since the epoch). Called after the answer is
 * written; never throws, never waits. Which opens are facts (an authentic token whose ids fit
 * the log) is decided behind it, so the pixel's own work stays the same for any token.
 */
export interface Opens {
  record(token: string, userAgent: string | undefined, atMs: number): void;
  /** Stops taking opens, flushes what is buffered and waits for its acknowledgements. */
  close(): Promise<void>;
}

/**
 * Opens decoded and recorded on the calling thread: the token opened, its source judged from
 * the User-Agent, the open buffered in an OpenRecorder (adapters/hits.ts), and `onOpen` told of
 * each one (the metrics). Used inside the open worker (adapters/open-worker.ts), and on the
 * main thread when the service runs without one.
 */
export class InlineOpens implements Opens {
  readonly #tokens: TokenKeyring;
  readonly #recorder: OpenRecorder;
  readonly #onOpen: (source: HitSource) => void;

  constructor(tokens: TokenKeyring, bus: Bus, log: Logger, opts: OpenRecorderOptions, onOpen: (source: HitSource) => void) {
    this.#tokens = tokens;
    this.#recorder = new OpenRecorder(bus, log, opts);
    this.#onOpen = onOpen;
  }

  record(token: string, userAgent: string | undefined, atMs: number): void {
    if (token.length > LIMITS.tokenChars.open) return;
    const opened = this.#tokens.open('open', token);
    const ref = opened.ok ? messageRef(opened.payload) : undefined;
    if (!ref) return;
    const source = classifySource(userAgent);
    this.#onOpen(source);
    this.#recorder.record({ accountId: ref.accountId, open: recordedOpen(ref, source, new Date(atMs)) });
  }

  /** Opens buffered or being published. */
  get pending(): number {
    return this.#recorder.pending;
  }

  close(): Promise<void> {
    return this.#recorder.close();
  }
}
