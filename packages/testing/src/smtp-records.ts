/** An SMTP reply to inject: `message` is the text after the code, e.g. `5.1.1 User unknown`. */
export interface SmtpReply {
  code: number;
  message: string;
}

/** One message the sink accepted (250 after DATA). */
export interface SmtpTransaction {
  /** The AUTH user, undefined when the client did not authenticate. */
  user: string | undefined;
  /** MAIL FROM address, '' for the null sender. */
  mailFrom: string;
  /** Accepted recipients only (a rejected RCPT is not part of the envelope). */
  rcptTo: string[];
  /** The message as received, dot-unstuffed. */
  raw: Buffer;
  /** The Message-ID header as written, angle brackets included; undefined if absent. */
  messageId: string | undefined;
  /** When MAIL FROM arrived (ms since epoch). */
  startedAt: number;
  /** When the reply to the message body was sent, after any delayMs (ms since epoch). */
  endedAt: number;
  sessionId: string;
}

/** A refusal the sink answered with, for the injected or authentication failures. */
export interface SmtpRejection {
  stage: 'auth' | 'mail' | 'rcpt' | 'data';
  user: string | undefined;
  /** The recipient (rcpt), sender (mail) or nothing. */
  address: string | undefined;
  reply: SmtpReply;
  /** Set for stage 'data': the transaction that was refused. */
  transaction: SmtpTransaction | undefined;
  sessionId: string;
  at: number;
}

/** What a per-recipient hook sees of the session. */
export interface SmtpSessionInfo {
  sessionId: string;
  user: string | undefined;
  mailFrom: string;
  /** Recipients accepted so far in this transaction. */
  rcptTo: string[];
}

/** The Message-ID header of a raw message: headers end at the first empty line, folded lines joined. */
export function parseMessageId(raw: Buffer): string | undefined {
  const text = raw.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const headers = (end < 0 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const match = /^message-id:[ \t]*(.*?)[ \t]*$/im.exec(headers);
  return match?.[1] || undefined;
}

export function countByUser(transactions: readonly SmtpTransaction[]): Map<string | undefined, number> {
  const counts = new Map<string | undefined, number>();
  for (const tx of transactions) counts.set(tx.user, (counts.get(tx.user) ?? 0) + 1);
  return counts;
}

/** Message-IDs accepted more than once, in order of first appearance. */
export function duplicateMessageIds(transactions: readonly SmtpTransaction[]): string[] {
  const counts = new Map<string, number>();
  for (const tx of transactions) {
    if (tx.messageId !== undefined) counts.set(tx.messageId, (counts.get(tx.messageId) ?? 0) + 1);
  }
  return [...counts].filter(([, n]) => n > 1).map(([id]) => id);
}

interface Waiter {
  predicate: (transactions: readonly SmtpTransaction[]) => boolean;
  resolve: (transactions: SmtpTransaction[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** Wakes waiters when a transaction is recorded instead of polling. */
export class Waiters {
  private readonly waiters = new Set<Waiter>();
  constructor(private readonly transactions: SmtpTransaction[]) {}

  wait(predicate: Waiter['predicate'], timeoutMs: number): Promise<SmtpTransaction[]> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          const n = this.transactions.length;
          reject(new Error(`SMTP sink: condition not met within ${timeoutMs} ms (${n} transactions recorded)`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
      this.check();
    });
  }

  check(): void {
    for (const waiter of this.waiters) {
      let met: boolean;
      try {
        met = waiter.predicate(this.transactions);
      } catch (err) {
        met = false;
        this.settle(waiter);
        waiter.reject(err instanceof Error ? err : new Error(String(err)));
      }
      if (met) {
        this.settle(waiter);
        waiter.resolve([...this.transactions]);
      }
    }
  }

  rejectAll(reason: string): void {
    for (const waiter of this.waiters) {
      this.settle(waiter);
      waiter.reject(new Error(reason));
    }
  }

  private settle(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    this.waiters.delete(waiter);
  }
}
