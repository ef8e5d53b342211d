import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import {
  countByUser,
  duplicateMessageIds,
  parseMessageId,
  Waiters,
  type SmtpRejection,
  type SmtpReply,
  type SmtpSessionInfo,
  type SmtpTransaction,
} from './smtp-records.js';

/** Failure injection, read at every command: assign to `sink.behavior` to change it mid-test. */
export interface SmtpSinkBehavior {
  /** Asked at AUTH (after the password matched) and at every MAIL FROM: refuse this user's mail. */
  failUser?: (user: string | undefined) => SmtpReply | undefined;
  /** Asked at every RCPT TO, e.g. `{ code: 550, message: '5.1.1 User unknown' }`. */
  onRcpt?: (address: string, session: SmtpSessionInfo) => SmtpReply | undefined;
  /** Asked once the body has arrived: refuse the message instead of answering 250. */
  onData?: (transaction: SmtpTransaction) => SmtpReply | undefined;
  /** Wait this long before answering the end of DATA. */
  delayMs?: number;
}

export interface SmtpSinkOptions extends SmtpSinkBehavior {
  /**
   * user → password. When set, AUTH PLAIN/LOGIN is required and a wrong password gets
   * `535 5.7.8 Authentication credentials invalid`. When unset, AUTH is optional and any
   * credentials are accepted (the user is still recorded).
   */
  auth?: Record<string, string>;
  maxClients?: number;
  /** Offer STARTTLS (self-signed built-in certificate). Default false. */
  tls?: boolean;
  /** Default: a free port. */
  port?: number;
  /** Close a session idle this long (smtp-server's socketTimeout; its default is a minute). */
  socketTimeoutMs?: number;
}

/**
 * One SMTP transaction as the server saw it, from MAIL FROM to its end — accepted, refused,
 * or abandoned (reset or connection lost) — for judging overlaps per account.
 */
export interface TransactionSpan {
  user: string | undefined;
  sessionId: string;
  startedAt: number;
  /** Undefined while it is open. */
  endedAt: number | undefined;
  end: 'open' | 'accepted' | 'refused' | 'abandoned';
}

export interface SmtpSink {
  readonly host: string;
  readonly port: number;
  /** Accepted messages, in order. clear() empties this same array. */
  readonly transactions: SmtpTransaction[];
  /** Every refusal the sink answered (auth, injected failures). */
  readonly rejections: SmtpRejection[];
  /** Every transaction begun, whatever became of it. */
  readonly spans: TransactionSpan[];
  /** Pairs of one user's transactions that overlapped in time (an open one lasts until now). */
  overlaps(): Array<[TransactionSpan, TransactionSpan]>;
  behavior: SmtpSinkBehavior;
  /** Resolves with a copy of the transactions once predicate(transactions) is true. */
  waitFor(predicate: (transactions: readonly SmtpTransaction[]) => boolean, timeoutMs?: number): Promise<SmtpTransaction[]>;
  clear(): void;
  /** Accepted messages per AUTH user (undefined: unauthenticated). */
  countByUser(): Map<string | undefined, number>;
  /** Message-IDs accepted more than once. */
  duplicates(): string[];
  /** Stops listening and disconnects clients (421). */
  close(): Promise<void>;
}

const AUTH_INVALID: SmtpReply = { code: 535, message: '5.7.8 Authentication credentials invalid' };

const smtpError = (reply: SmtpReply): Error => Object.assign(new Error(reply.message), { responseCode: reply.code });
const userOf = (session: SMTPServerSession): string | undefined =>
  typeof session.user === 'string' ? session.user : undefined;
const addressOf = (session: SMTPServerSession): string =>
  session.envelope.mailFrom ? session.envelope.mailFrom.address : '';

/** An SMTP server on 127.0.0.1 that records every transaction, for tests of senders. */
export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const { auth, maxClients, tls = false, port: wantedPort = 0, socketTimeoutMs, ...initialBehavior } = options;
  const spans: TransactionSpan[] = [];
  const openSpan = new Map<string, TransactionSpan>();
  const endSpan = (sessionId: string, end: TransactionSpan['end']) => {
    const span = openSpan.get(sessionId);
    if (!span) return;
    span.endedAt = Date.now();
    span.end = end;
    openSpan.delete(sessionId);
  };
  const transactions: SmtpTransaction[] = [];
  const rejections: SmtpRejection[] = [];
  const waiters = new Waiters(transactions);
  const startedAt = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  const sink = { behavior: initialBehavior };

  const reject = (
    stage: SmtpRejection['stage'],
    session: SMTPServerSession,
    reply: SmtpReply,
    extra: { user?: string; address?: string; transaction?: SmtpTransaction } = {},
  ): Error => {
    const { user = userOf(session), address, transaction } = extra;
    rejections.push({ stage, user, address, reply, transaction, sessionId: session.id, at: Date.now() });
    return smtpError(reply);
  };

  const server = new SMTPServer({
    name: 'postbus-smtp-sink',
    logger: false,
    disableReverseLookup: true,
    disabledCommands: tls ? [] : ['STARTTLS'],
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: auth === undefined,
    allowInsecureAuth: true,
    maxAllowedUnauthenticatedCommands: false,
    // replies carry their enhanced codes in the text, so the injected ones are used verbatim
    hideENHANCEDSTATUSCODES: true,
    closeTimeout: 1,
    ...(socketTimeoutMs === undefined ? {} : { socketTimeout: socketTimeoutMs }),
    ...(maxClients === undefined ? {} : { maxClients }),
    onAuth(credentials, session, callback) {
      const user = credentials.username ?? '';
      const wrongPassword = auth !== undefined && (!Object.hasOwn(auth, user) || auth[user] !== credentials.password);
      const failure = wrongPassword ? AUTH_INVALID : sink.behavior.failUser?.(user);
      callback(failure ? reject('auth', session, failure, { user }) : null, { user });
    },
    onMailFrom(address, session, callback) {
      const failure = sink.behavior.failUser?.(userOf(session));
      if (failure) return callback(reject('mail', session, failure, { address: address.address }));
      startedAt.set(session.id, Date.now());
      // A new MAIL FROM ends whatever the session had open (RSET leaves no trace of its own).
      endSpan(session.id, 'abandoned');
      const span: TransactionSpan = { user: userOf(session), sessionId: session.id, startedAt: Date.now(), endedAt: undefined, end: 'open' };
      spans.push(span);
      openSpan.set(session.id, span);
      callback();
    },
    onRcptTo(address, session, callback) {
      const info: SmtpSessionInfo = {
        sessionId: session.id,
        user: userOf(session),
        mailFrom: addressOf(session),
        rcptTo: session.envelope.rcptTo.map((r) => r.address),
      };
      const failure = sink.behavior.onRcpt?.(address.address, info);
      callback(failure ? reject('rcpt', session, failure, { address: address.address }) : undefined);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('error', (err) => callback(err));
      stream.once('end', () => {
        const raw = Buffer.concat(chunks);
        const tx: SmtpTransaction = {
          user: userOf(session),
          mailFrom: addressOf(session),
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          raw,
          messageId: parseMessageId(raw),
          startedAt: startedAt.get(session.id) ?? Date.now(),
          endedAt: 0,
          sessionId: session.id,
        };
        const failure = sink.behavior.onData?.(tx);
        const answer = (): void => {
          tx.endedAt = Date.now();
          endSpan(session.id, failure ? 'refused' : 'accepted');
          if (failure) return callback(reject('data', session, failure, { transaction: tx }));
          transactions.push(tx);
          waiters.check();
          callback(null, 'OK: message queued');
        };
        const delayMs = sink.behavior.delayMs ?? 0;
        if (delayMs <= 0) return answer();
        const timer = setTimeout(() => {
          timers.delete(timer);
          answer();
        }, delayMs);
        timers.add(timer);
      });
    },
    onClose(session) {
      startedAt.delete(session.id);
      endSpan(session.id, 'abandoned');
    },
  });
  server.on('error', () => {
    // client-side socket errors (resets, timeouts) are the client's business
  });

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(wantedPort, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const address = server.server.address();
  if (address === null || typeof address !== 'object') throw new Error('SMTP sink has no TCP address');
  let closed: Promise<void> | undefined;

  return Object.assign(sink, {
    host: '127.0.0.1',
    port: address.port,
    transactions,
    rejections,
    spans,
    overlaps() {
      const byUser = new Map<string | undefined, TransactionSpan[]>();
      for (const sp of spans) byUser.set(sp.user, [...(byUser.get(sp.user) ?? []), sp]);
      const out: Array<[TransactionSpan, TransactionSpan]> = [];
      for (const list of byUser.values()) {
        const sorted = [...list].sort((a, b) => a.startedAt - b.startedAt);
        for (let i = 0; i < sorted.length; i++) {
          for (let j = i + 1; j < sorted.length && sorted[j]!.startedAt < (sorted[i]!.endedAt ?? Infinity); j++) out.push([sorted[i]!, sorted[j]!]);
        }
      }
      return out;
    },
    waitFor: (predicate: (txs: readonly SmtpTransaction[]) => boolean, timeoutMs = 10_000) =>
      waiters.wait(predicate, timeoutMs),
    clear() {
      transactions.length = 0;
      rejections.length = 0;
      spans.length = 0;
    },
    countByUser: () => countByUser(transactions),
    duplicates: () => duplicateMessageIds(transactions),
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        waiters.rejectAll('SMTP sink closed');
        server.close(() => resolve());
      });
      return closed;
    },
  });
}
