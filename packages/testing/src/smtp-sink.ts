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
}

export interface SmtpSink {
  readonly host: string;
  readonly port: number;
  /** Accepted messages, in order. clear() empties this same array. */
  readonly transactions: SmtpTransaction[];
  /** Every refusal the sink answered (auth, injected failures). */
  readonly rejections: SmtpRejection[];
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
  const { auth, maxClients, tls = false, port: wantedPort = 0, ...initialBehavior } = options;
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
    waitFor: (predicate: (txs: readonly SmtpTransaction[]) => boolean, timeoutMs = 10_000) =>
      waiters.wait(predicate, timeoutMs),
    clear() {
      transactions.length = 0;
      rejections.length = 0;
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
