import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { METADATA_SCOPES, READ_SCOPES, SEND_SCOPES, jsonRaw, getMessage, getProfile, listHistory, listMessages, sendMessage, uploadedRaw, type ApiContext } from './gmail-standin-api.js';
import {
  GMAIL_READONLY_SCOPE,
  GMAIL_SEND_SCOPE,
  GOOGLE_TOKEN_AUDIENCES,
  TokenStore,
  checkAssertion,
  createServiceAccountKey,
  registerKey,
  type RegisteredServiceAccount,
  type ServiceAccountKeyFile,
} from './gmail-standin-auth.js';
import { INSUFFICIENT_SCOPES, INVALID_CREDENTIALS, NOT_FOUND, TOKEN_KINDS, apiError, injectedReply, oauthError, rateLimited, type GmailFailureKind, type GmailStandinCall, type StandinReply } from './gmail-standin-errors.js';
import { Mailbox, type GmailStoredMessage } from './gmail-standin-mailbox.js';

export interface GmailStandinUser {
  readonly email: string;
  /** Verified send-as addresses besides `email`. */
  readonly aliases?: readonly string[];
  /** A suspended or deleted user: token exchanges get invalid_grant. */
  readonly disabled?: boolean;
  readonly sendsPerMinute?: number;
  readonly sendsPerDay?: number;
  /** Quota units a second for reads (getProfile 1, history.list 2, messages.list and .get 5). Default 250, Gmail's. */
  readonly readUnitsPerSecond?: number;
}

export interface GmailStandinOptions {
  readonly users?: readonly (string | GmailStandinUser)[];
  /** Per-user sending quota over a rolling minute (Gmail: 15,000 units a minute, 100 a send). Default 150. */
  readonly sendsPerMinute?: number;
  /** Per-user sending quota over a rolling 24 hours. Default 2000 (Workspace). */
  readonly sendsPerDay?: number;
  /** Per-user read quota, in Gmail's units over a rolling second. Default 250. */
  readonly readUnitsPerSecond?: number;
  /**
   * History records kept per user; history.list from before the oldest kept gets 404 (Gmail
   * keeps about a week). Default: all of them (`expireHistory` forgets them on demand).
   */
  readonly historyRetention?: number;
  /** A sent message turns up in `q` searches only this long after it was stored. Default 0. */
  readonly searchLagMs?: number;
  /** Slack allowed around a JWT's iat/exp. Default 60. */
  readonly clockSkewSeconds?: number;
  /** A From that is not the user or an alias: 'reject' (400, default) or 'rewrite' (what Gmail does). */
  readonly unknownFrom?: 'reject' | 'rewrite';
  /** The stand-in's clock (ms since epoch): quotas, search lag, token and JWT times. Default Date.now. */
  readonly now?: () => number;
}

export interface GmailStandinRequest {
  readonly at: number;
  readonly method: string;
  /** Path and query (never a header or body: no token or assertion is kept). */
  readonly url: string;
  readonly call: GmailStandinCall | 'unknown';
  /** The mailbox the call was for, once known (token `sub`, or the bearer token's user). */
  readonly user: string | undefined;
  /** 0: the connection was dropped without an answer. */
  readonly status: number;
  readonly injected: GmailFailureKind | undefined;
}

export interface FailNextOptions {
  /** The call that fails. Default: 'token' for token kinds, else 'send'. */
  readonly call?: GmailStandinCall;
  /** Retry-After of 'rate-limit-429'. Default 60. */
  readonly retryAfterSeconds?: number;
  /** How many consecutive calls fail. Default 1. */
  readonly times?: number;
}

export interface GmailStandin {
  /** What googleapis is pointed at (`rootUrl`), e.g. http://127.0.0.1:41234/ */
  readonly rootUrl: string;
  /** The OAuth token endpoint; service-account keys made here name it as token_uri. */
  readonly tokenUri: string;
  readonly port: number;
  readonly requests: GmailStandinRequest[];
  searchLagMs: number;
  /**
   * Called when a send was stored, before its answer goes out; the answer waits for it. Tests
   * use it to kill a client in the window between Gmail's acceptance and the client hearing so.
   */
  onSendStored: ((user: string, stored: GmailStoredMessage) => Promise<void> | void) | undefined;
  addUser(user: string | GmailStandinUser): void;
  /** Suspends the user: its tokens stop working and new exchanges get invalid_grant. */
  disableUser(email: string): void;
  /** A new service account (fresh RSA key) with domain-wide delegation of `scopes` (default: gmail.send and gmail.readonly). */
  createServiceAccount(opts?: { clientEmail?: string; scopes?: readonly string[] }): Promise<ServiceAccountKeyFile>;
  setDelegatedScopes(clientEmail: string, scopes: readonly string[]): void;
  failNext(user: string, kind: GmailFailureKind, opts?: FailNextOptions): void;
  sent(user: string): GmailStoredMessage[];
  inbox(user: string): GmailStoredMessage[];
  /** Puts a message in the user's inbox (a bounce, a reply), with its history record. */
  deliverToInbox(user: string, raw: Buffer | string, labelIds?: readonly string[]): GmailStoredMessage;
  /** The same as deliverToInbox. */
  deliver(user: string, raw: Buffer | string, labelIds?: readonly string[]): GmailStoredMessage;
  historyId(user: string): number;
  /** Forgets the user's history: history.list from an older startHistoryId gets 404. */
  expireHistory(user: string): void;
  revokeTokens(user?: string): void;
  /** Access tokens issued for the user and not revoked (for tests that check nothing leaks them). */
  accessTokens(user: string): string[];
  close(): Promise<void>;
}

interface Queued {
  readonly kind: GmailFailureKind;
  readonly call: GmailStandinCall;
  readonly retryAfterSeconds: number;
}

const MAX_BODY = 50 * 1024 * 1024;
/** Gmail's quota units per call (developers.google.com/gmail/api/reference/quota). */
const READ_UNITS: Readonly<Record<Exclude<GmailStandinCall, 'token' | 'send'>, number>> = { profile: 1, history: 2, list: 5, get: 5 };
const API = /^\/(upload\/)?gmail\/v1\/users\/([^/]+)\/(messages\/send|messages|messages\/([^/]+)|history|profile)$/;

/** An HTTP server on 127.0.0.1 that answers googleapis' Gmail and OAuth calls as Google does, for tests. */
export async function startGmailStandin(options: GmailStandinOptions = {}): Promise<GmailStandin> {
  const clock = options.now ?? Date.now;
  const mailboxes = new Map<string, Mailbox>();
  const accounts = new Map<string, RegisteredServiceAccount>();
  const failures = new Map<string, Queued[]>();
  const tokens = new TokenStore();
  const requests: GmailStandinRequest[] = [];
  const state: { searchLagMs: number; onSendStored: GmailStandin['onSendStored'] } = { searchLagMs: options.searchLagMs ?? 0, onSendStored: undefined };
  let tokenUri = '';

  const mailbox = (user: string): Mailbox => {
    const mb = mailboxes.get(user.toLowerCase());
    if (!mb) throw new Error(`gmail stand-in: no user ${user}`);
    return mb;
  };
  const takeFailure = (user: string | undefined, call: GmailStandinCall): Queued | undefined => {
    const queue = user ? failures.get(user) : undefined;
    const i = queue?.findIndex((f) => f.call === call) ?? -1;
    return i >= 0 ? queue!.splice(i, 1)[0] : undefined;
  };

  type Outcome = StandinReply | 'drop';
  type Log = { -readonly [K in keyof GmailStandinRequest]: GmailStandinRequest[K] };

  const inject = (f: Queued): Outcome => (f.kind.startsWith('drop-') ? 'drop' : injectedReply(f.kind, clock(), f.retryAfterSeconds));

  const handleToken = (body: Buffer, log: Log): Outcome => {
    const form = new URLSearchParams(body.toString('utf8'));
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      return oauthError(400, 'unsupported_grant_type', `Invalid grant_type: ${form.get('grant_type') ?? ''}`);
    }
    const check = checkAssertion(form.get('assertion') ?? '', accounts, [...GOOGLE_TOKEN_AUDIENCES, tokenUri], clock(), options.clockSkewSeconds ?? 60);
    log.user = check.ok ? check.grant.user : check.user;
    if (!check.ok) return check.reply;
    const injected = takeFailure(check.grant.user, 'token');
    log.injected = injected?.kind;
    if (injected) return inject(injected);
    const mb = mailboxes.get(check.grant.user);
    if (!mb || mb.disabled) return oauthError(400, 'invalid_grant', 'Invalid email or User ID');
    return { status: 200, body: tokens.issue(check.grant, clock()) };
  };

  const handleApi = (req: http.IncomingMessage, url: URL, body: Buffer, route: RegExpExecArray, log: Log): Outcome => {
    const [, upload, userId, resource, messageId] = route;
    const call: GmailStandinCall =
      resource === 'messages/send' ? 'send' : resource === 'messages' ? 'list' : resource === 'history' ? 'history' : resource === 'profile' ? 'profile' : 'get';
    log.call = call;
    if ((call === 'send') !== (req.method === 'POST') || (upload && call !== 'send')) return NOT_FOUND();
    const token = tokens.lookup(req.headers.authorization, clock());
    if (!token) return INVALID_CREDENTIALS();
    const asked = decodeURIComponent(userId!).toLowerCase();
    if (asked !== 'me' && asked !== token.user) return apiError(403, 'forbidden', `Delegation denied for ${token.user}`);
    log.user = token.user;
    const injected = takeFailure(token.user, call);
    log.injected = injected?.kind;
    if (injected && injected.kind !== 'drop-after-store') return inject(injected);
    const params = url.searchParams;
    const needs = call === 'send' ? SEND_SCOPES : (call === 'list' && params.has('q')) || (call === 'get' && /^(raw|full)$/.test(params.get('format') ?? 'full')) ? READ_SCOPES : METADATA_SCOPES;
    if (![...token.scopes].some((s) => needs.has(s))) return INSUFFICIENT_SCOPES();
    const ctx: ApiContext = { mailbox: mailbox(token.user), now: clock(), searchLagMs: state.searchLagMs, unknownFrom: options.unknownFrom ?? 'reject' };
    if (call !== 'send') {
      const retryAt = ctx.mailbox.takeReadUnits(READ_UNITS[call], ctx.now);
      if (retryAt !== undefined) return rateLimited(retryAt, ctx.now);
    }
    switch (call) {
      case 'send': {
        const decoded = upload ? uploadedRaw(body, req.headers['content-type'] ?? '', params.get('uploadType')) : jsonRaw(body);
        const reply = 'raw' in decoded ? sendMessage(ctx, decoded.raw, decoded.threadId) : decoded;
        // The uncertain window: Gmail has the message, the client never hears so.
        return injected?.kind === 'drop-after-store' ? 'drop' : reply;
      }
      case 'list':
        return listMessages(ctx, params);
      case 'history':
        return listHistory(ctx, params);
      case 'profile':
        return getProfile(ctx);
      default:
        return getMessage(ctx, decodeURIComponent(messageId!), params);
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const log: Log = { at: clock(), method: req.method ?? '', url: `${url.pathname}${url.search}`, call: 'unknown', user: undefined, status: 0, injected: undefined };
      const handle = (): Outcome => {
        if (size > MAX_BODY) return apiError(413, 'uploadTooLarge', 'Request payload size exceeds the limit');
        if (req.method === 'POST' && url.pathname === '/token') {
          log.call = 'token';
          return handleToken(Buffer.concat(chunks), log);
        }
        const route = API.exec(url.pathname);
        return route ? handleApi(req, url, Buffer.concat(chunks), route, log) : NOT_FOUND();
      };
      const outcome = handle();
      if (outcome === 'drop') {
        requests.push(log);
        req.socket.destroy();
        return;
      }
      requests.push({ ...log, status: outcome.status });
      const answer = () => {
        res.writeHead(outcome.status, { 'content-type': 'application/json; charset=UTF-8', ...outcome.headers });
        res.end(JSON.stringify(outcome.body));
      };
      const hook = state.onSendStored;
      const storedId = (outcome.body as { id?: unknown } | undefined)?.id;
      if (hook && log.call === 'send' && outcome.status === 200 && log.user && typeof storedId === 'string') {
        const stored = mailbox(log.user).find(storedId);
        if (stored) {
          void Promise.resolve(hook(log.user, stored)).then(answer, answer);
          return;
        }
      }
      answer();
    });
  });
  // Google keeps connections open for long; a short server idle timeout would race the client's reuse.
  server.keepAliveTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const rootUrl = `http://127.0.0.1:${port}/`;
  tokenUri = `${rootUrl}token`;

  const standin: GmailStandin = {
    rootUrl,
    tokenUri,
    port,
    requests,
    get searchLagMs() {
      return state.searchLagMs;
    },
    set searchLagMs(ms: number) {
      state.searchLagMs = ms;
    },
    get onSendStored() {
      return state.onSendStored;
    },
    set onSendStored(hook) {
      state.onSendStored = hook;
    },
    addUser(user) {
      const u = typeof user === 'string' ? { email: user } : user;
      const email = u.email.toLowerCase();
      const aliases = new Set((u.aliases ?? []).map((a) => a.toLowerCase()));
      mailboxes.set(
        email,
        new Mailbox(
          email,
          aliases,
          u.disabled ?? false,
          u.sendsPerMinute ?? options.sendsPerMinute ?? 150,
          u.sendsPerDay ?? options.sendsPerDay ?? 2000,
          u.readUnitsPerSecond ?? options.readUnitsPerSecond ?? 250,
          options.historyRetention ?? Infinity,
        ),
      );
    },
    disableUser(email) {
      mailbox(email).disabled = true;
      tokens.revoke(email.toLowerCase());
    },
    async createServiceAccount(opts = {}) {
      const { key, publicKeyPem } = await createServiceAccountKey({ tokenUri, ...(opts.clientEmail ? { clientEmail: opts.clientEmail } : {}) });
      accounts.set(key.client_email, registerKey(key, publicKeyPem, opts.scopes ?? [GMAIL_SEND_SCOPE, GMAIL_READONLY_SCOPE]));
      return key;
    },
    setDelegatedScopes(clientEmail, scopes) {
      const account = accounts.get(clientEmail);
      if (!account) throw new Error(`gmail stand-in: no service account ${clientEmail}`);
      account.delegatedScopes = new Set(scopes);
    },
    failNext(user, kind, opts = {}) {
      const call = opts.call ?? (TOKEN_KINDS.has(kind) ? 'token' : 'send');
      if (TOKEN_KINDS.has(kind) && call !== 'token') throw new Error(`${kind} answers token exchanges only`);
      if (kind === 'drop-after-store' && call !== 'send') throw new Error('drop-after-store is for sends');
      const key = user.toLowerCase();
      const queue = failures.get(key) ?? [];
      for (let i = 0; i < (opts.times ?? 1); i++) queue.push({ kind, call, retryAfterSeconds: opts.retryAfterSeconds ?? 60 });
      failures.set(key, queue);
    },
    sent: (user) => mailbox(user).messages.filter((m) => m.labelIds.includes('SENT')),
    inbox: (user) => mailbox(user).messages.filter((m) => m.labelIds.includes('INBOX')),
    deliverToInbox(user, raw, labelIds = ['INBOX', 'UNREAD']) {
      return mailbox(user).store(Buffer.isBuffer(raw) ? raw : Buffer.from(raw), [...labelIds], clock());
    },
    deliver(user, raw, labelIds) {
      return standin.deliverToInbox(user, raw, labelIds);
    },
    historyId: (user) => mailbox(user).historyId,
    expireHistory: (user) => mailbox(user).expireHistory(),
    revokeTokens: (user) => tokens.revoke(user?.toLowerCase()),
    accessTokens: (user) => tokens.of(user.toLowerCase()),
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  for (const u of options.users ?? []) standin.addUser(u);
  return standin;
}
