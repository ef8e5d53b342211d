import { Worker } from 'node:worker_threads';
import type { Namespace, HitSource } from '@postbus/contracts';
import type { TokenKeyring } from '@postbus/secrets';
import { metrics, type Logger } from '@postbus/telemetry';
import { LIMITS } from '../deps.js';
import { MAX_USER_AGENT_CHARS } from '../domain/user-agent.js';
import type { OpenRecorderOptions } from './hits.js';
import type { Opens } from './opens.js';

/** What the worker thread (open-worker-thread.ts) is started with. */
export interface OpenWorkerData {
  readonly bus: { readonly servers: readonly string[]; readonly name: string; readonly namespace: Namespace };
  /** The token keyring, rebuilt in the thread (TokenKeyring.forWorkerThread): keys stay in this process. */
  readonly tokens: ReturnType<TokenKeyring['forWorkerThread']>;
  readonly recorder: OpenRecorderOptions;
  readonly logLevel: string;
}

/** Main thread → worker: opens as flat triples (token, User-Agent or '', ms), or the order to close. */
export type ToOpenWorker = { readonly t: 'opens'; readonly opens: Array<string | number> } | { readonly t: 'close' };

/** Worker → main thread. */
export type FromOpenWorker =
  /** Connected: opens handed over now are recorded. */
  | { readonly t: 'ready' }
  /** `n` opens of a batch taken; `sources` counts the authentic ones by source; `pending` is the worker's recorder backlog. */
  | { readonly t: 'done'; readonly n: number; readonly sources: Partial<Record<HitSource, number>>; readonly pending: number }
  /** One pino line of the worker's log, to go out through the service's logger. */
  | { readonly t: 'log'; readonly line: string };

export interface OpenWorkerOptions {
  readonly servers: readonly string[];
  readonly namespace: Namespace;
  readonly tokens: TokenKeyring;
  readonly recorder: OpenRecorderOptions;
  readonly log: Logger;
  /** Opens handed over at most this long after they came… */
  readonly handOffMs?: number;
  /** …or as soon as this many wait. */
  readonly handOffBatch?: number;
  /** A restart after the worker stopped on its own waits this long. */
  readonly restartDelayMs?: number;
  /** The thread's script (tests give one that fails); default the built open-worker-thread.js. */
  readonly threadFile?: URL;
}

const LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/**
 * Opens decoded and published by a worker thread with a NATS connection of its own, so the
 * pixel's event loop only answers: opening a token (AES-GCM) and judging its source, batching
 * opens into events and publishing them cost the main thread as much as answering the request
 * did. The main thread queues each open (a token of at most 512 characters, the first 512 of
 * its User-Agent, which is all the source is judged by, and a time) and hands the queue to the
 * worker every `handOffMs` or `handOffBatch` opens, in one message; the worker
 * runs InlineOpens (adapters/opens.ts) as the main thread would, and reports the opens it took
 * (for the metrics) and its backlog.
 *
 * Bounds: opens queued here, in flight to the worker and pending in its recorder count against
 * `recorder.maxPending`; beyond it an open is dropped and counted (the pixel is still
 * answered). What a crash can lose grows by the hand-off interval (a few ms) over the
 * recorder's flush interval. If the worker stops on its own (an uncaught error, a failed
 * connection), the opens it held are counted lost and logged, and a new one is started.
 * close() hands over the queue and waits for the worker to flush and acknowledge it.
 */
export class OpenWorker implements Opens {
  readonly #opts: OpenWorkerOptions;
  readonly #handOffMs: number;
  readonly #handOffBatch: number;
  #worker!: Worker;
  /** False from a worker's exit until the next one starts: opens wait in the queue meanwhile. */
  #alive = false;
  /** Settles when the current worker has stopped. */
  #exited: Promise<void> = Promise.resolve();
  #queue: Array<string | number> = [];
  #timer: NodeJS.Timeout | undefined;
  /** Opens handed to the current worker and not yet reported done. */
  #inWorker = 0;
  /** The worker's recorder backlog, as last reported. */
  #workerPending = 0;
  #dropped = 0;
  #lost = 0;
  #closing = false;
  #closed: Promise<void> | undefined;
  #ready: { resolve: () => void; reject: (err: Error) => void } | undefined;

  private constructor(opts: OpenWorkerOptions) {
    this.#opts = opts;
    this.#handOffMs = opts.handOffMs ?? 5;
    this.#handOffBatch = opts.handOffBatch ?? 512;
  }

  /**
   * Starts the worker and waits until it is connected (loading its modules alone takes more than
   * half a second), so that a service answering pixels records their opens from the first one.
   * Rejects if the worker stops before (it could not connect to NATS, say).
   */
  static async start(opts: OpenWorkerOptions): Promise<OpenWorker> {
    const opens = new OpenWorker(opts);
    await new Promise<void>((resolve, reject) => {
      opens.#ready = { resolve, reject };
      opens.#start();
    });
    return opens;
  }

  /** Opens queued, in the worker or pending in its recorder. */
  get pending(): number {
    return this.#queue.length / 3 + this.#inWorker + this.#workerPending;
  }

  record(token: string, userAgent: string | undefined, atMs: number): void {
    // No open token is longer; a longer one would only be refused in the worker.
    if (token.length > LIMITS.tokenChars.open) return;
    if (this.#closing || this.pending >= this.#opts.recorder.maxPending) {
      this.#dropped++;
      if (this.#dropped % 100 === 1) this.#opts.log.warn({ dropped: this.#dropped, pending: this.pending }, 'opens dropped: too many publishes pending');
      return;
    }
    // Only the start of a User-Agent is read to judge the source: the queue holds no more of it.
    this.#queue.push(token, (userAgent ?? '').slice(0, MAX_USER_AGENT_CHARS), atMs);
    if (this.#queue.length >= this.#handOffBatch * 3) this.#handOff();
    else this.#timer ??= setTimeout(() => this.#handOff(), this.#handOffMs);
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    this.#handOff();
    // Opens still queued here (no worker running) are lost with it.
    if (this.#queue.length > 0) this.#opts.log.warn({ lost: this.#queue.length / 3 }, 'opens lost: the open worker was not running at shutdown');
    this.#worker.postMessage({ t: 'close' } satisfies ToOpenWorker);
    await this.#exited;
  }

  #handOff(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#queue.length === 0 || !this.#alive) return;
    const opens = this.#queue;
    this.#queue = [];
    this.#inWorker += opens.length / 3;
    this.#worker.postMessage({ t: 'opens', opens } satisfies ToOpenWorker);
  }

  #start(): void {
    const { servers, namespace, tokens, recorder, log } = this.#opts;
    const workerData: OpenWorkerData = {
      bus: { servers, name: 'postbus-tracking-opens', namespace },
      tokens: tokens.forWorkerThread(),
      recorder,
      logLevel: log.level,
    };
    const worker = new Worker(this.#opts.threadFile ?? threadFile(), { workerData, name: 'postbus-opens' });
    this.#worker = worker;
    this.#alive = true;
    worker.unref(); // the service's shutdown closes it; it never keeps the process alive by itself
    worker.on('message', (m: FromOpenWorker) => this.#onMessage(m));
    let failure: Error | undefined;
    worker.on('error', (err) => {
      failure = err;
      log.error({ err }, 'open worker failed');
    });
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('exit', (code) => {
      this.#alive = false;
      if (this.#ready) {
        // A thread that failed to load (its script missing: run `pnpm build`) says so here.
        const why = failure ? `: ${failure.message}` : '';
        this.#ready.reject(new Error(`the open worker stopped (exit code ${code}) before it was connected${why}`));
        this.#ready = undefined;
        return;
      }
      if (this.#closing && code === 0) return;
      // Stopped on its own (or failed while closing): what it held is gone.
      this.#lost += this.#inWorker + this.#workerPending;
      log.error({ code, lost: this.#inWorker + this.#workerPending, lostTotal: this.#lost }, 'open worker stopped; opens it held are lost');
      this.#inWorker = 0;
      this.#workerPending = 0;
      if (!this.#closing) setTimeout(() => this.#restart(), this.#opts.restartDelayMs ?? 1_000).unref();
    });
  }

  #restart(): void {
    if (this.#closing) return;
    this.#start();
    this.#handOff();
  }

  #onMessage(m: FromOpenWorker): void {
    switch (m.t) {
      case 'done':
        this.#inWorker -= m.n;
        this.#workerPending = m.pending;
        for (const [source, n] of Object.entries(m.sources)) metrics.trackingHit('open', source).inc(n);
        return;
      case 'ready':
        this.#ready?.resolve();
        this.#ready = undefined;
        return;
      case 'log':
        relayLog(this.#opts.log, m.line);
        return;
    }
  }
}

/** A pino line from the worker, logged through the service's logger (its level, fields and message). */
function relayLog(log: Logger, line: string): void {
  try {
    const { level, msg, time: _time, pid: _pid, hostname: _hostname, name: _name, service: _service, ...fields } = JSON.parse(line) as Record<string, unknown>;
    const method = LEVELS[Number(level)] ?? 'info';
    log[method]({ thread: 'opens', ...fields }, typeof msg === 'string' ? msg : '');
  } catch {
    log.warn({ thread: 'opens' }, 'unreadable log line from the open worker');
  }
}

/**
 * The worker's script: the built one beside this file. Under the test runner this module runs
 * from source (src/…/*.ts), and the thread runs the package's build (`pnpm test` builds first).
 */
function threadFile(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../../dist/open-worker-thread.js', here) : new URL('../open-worker-thread.js', here);
}
