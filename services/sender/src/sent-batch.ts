import type { JsMsg } from '@postbus/bus';
import { MAX_SENT_PER_EVENT, emailsSent, type EmailSent, type EmailsSent } from '@postbus/contracts';

interface Held {
  readonly event: EmailSent;
  readonly msgs: readonly JsMsg[];
  readonly settle: (err?: unknown) => void;
}

export interface SentBatchOptions {
  /** Most sends in one EmailsSent (at most MAX_SENT_PER_EVENT). */
  readonly maxSends: number;
  /** How long the first send of a batch waits for more before the batch goes. */
  readonly lingerMs: number;
  /** Publishes the batch (its work items are acked by the caller once this resolves). */
  readonly publish: (batch: EmailsSent, msgs: readonly JsMsg[]) => Promise<void>;
}

/**
 * One account's EmailSent events, gathered into EmailsSent: one message to the log, one
 * acknowledgement and one delivery to the projector for a batch of sends where each send took
 * its own. A send waits at most `lingerMs` (its work item stays unacknowledged meanwhile, so a
 * crash loses nothing: the item comes back, the ledger says `sent`, and the send is published
 * again). Each send keeps the id its EmailSent has, so readers dedupe it either way.
 */
export class SentBatch {
  private held: Held[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly accountId: string, private readonly opts: SentBatchOptions) {}

  /** Resolves once the send's batch is stored (and its work items may be acked); rejects if it was not. */
  add(event: EmailSent, msgs: readonly JsMsg[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.held.push({ event, msgs, settle: (err) => (err === undefined ? resolve() : reject(err instanceof Error ? err : new Error('the batch was not published', { cause: err }))) });
      if (this.held.length >= Math.min(this.opts.maxSends, MAX_SENT_PER_EVENT)) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.opts.lingerMs);
    });
  }

  /** Sends what is held now (a stopping worker does not wait for the timer). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const held = this.held;
    this.held = [];
    if (held.length === 0) return;
    const batch = emailsSent(this.accountId, held.map((h) => h.event));
    this.opts.publish(batch, held.flatMap((h) => h.msgs)).then(
      () => held.forEach((h) => h.settle()),
      (err: unknown) => held.forEach((h) => h.settle(err)),
    );
  }
}
