import { classifyGmailError, type Classification, type GmailCall, type GmailFailureInput } from '@postbus/classify';
import type * as GmailEntry from 'googleapis/build/src/apis/gmail/index.js';
import type { gmail_v1 } from 'googleapis/build/src/apis/gmail/index.js';
import { GOOGLE_TOKEN_URI, type ServiceAccountCredentials } from './gmail-credentials.js';
import { readError } from './gmail-errors.js';
import {
  HISTORY_ID,
  addedMessages,
  decodeRaw,
  readPages,
  type GmailHistoryPage,
  type GmailMessageList,
  type GmailRawMessage,
  type HistoryOptions,
  type ListOptions,
} from './gmail-reads.js';
import { SendPacer, realClock, type PacingClock } from './pacer.js';

// The Gmail entry alone loads in a fraction of the time of 'googleapis' (every API), and only
// once a Gmail session is used: SMTP-only users of this package never load it.
type GmailModule = typeof GmailEntry;
let gmailModule: Promise<GmailModule> | undefined;
const loadGmail = (): Promise<GmailModule> => (gmailModule ??= import('googleapis/build/src/apis/gmail/index.js'));

export const GMAIL_SCOPES: readonly string[] = ['https://www.googleapis.com/auth/gmail.send', 'https://www.googleapis.com/auth/gmail.readonly'];

export interface GmailAccount {
  /** The mailbox sent from: the user the service account impersonates (JWT `sub`). */
  readonly user: string;
  readonly serviceAccount: ServiceAccountCredentials;
}

export interface GmailTransportOptions {
  /** Where the Gmail API lives. Default https://gmail.googleapis.com/ */
  readonly rootUrl?: string;
  /** Per request, token exchange included. Default 60 s. */
  readonly timeoutMs?: number;
  /** Sends a minute per user (the token bucket's rate). Default 150, Gmail's per-user quota. */
  readonly sendsPerMinute?: number;
  /** Sends allowed at once (the bucket's size). Default 1. */
  readonly burst?: number;
  /**
   * Read calls a second per user (a token bucket of its own, apart from sends). Gmail's
   * per-user quota is 250 units a second, a messages.get 5 of them: default 40.
   */
  readonly readsPerSecond?: number;
  /** Scopes asked for: sending and reading Sent. Default GMAIL_SCOPES. */
  readonly scopes?: readonly string[];
  readonly clock?: PacingClock;
}

export interface GmailSendResult {
  /** Gmail's message id. */
  readonly id: string;
  readonly threadId: string;
}

/**
 * A failed Gmail call. `delivered` says what we know of Gmail having the message: 'no', or
 * 'unknown' when the connection broke after the request may have arrived (DESIGN.md's
 * `uncertain`: look it up with findSent before any resend). The message is built from
 * Google's answer only, never from credentials or tokens.
 */
export class GmailApiError extends Error {
  constructor(
    message: string,
    readonly call: GmailCall,
    readonly delivered: 'no' | 'unknown',
    readonly classification: Classification,
    readonly status?: number,
    /** Google's reason (rateLimitExceeded, …) or the OAuth error (invalid_grant, …). */
    readonly googleReason?: string,
    readonly errorCode?: string,
  ) {
    super(message);
    this.name = 'GmailApiError';
  }
}

/**
 * history.list answered 404: the start history id is older than what Gmail keeps (about a
 * week, sometimes less). The caller lists the mailbox again (a full resync).
 */
export class GmailHistoryExpiredError extends GmailApiError {
  constructor(message: string, classification: Classification) {
    super(message, 'read', 'no', classification, 404, 'notFound', 'history_expired');
    this.name = 'GmailHistoryExpiredError';
  }
}

/** Builds sessions that share settings: one per account. */
export class GmailTransport {
  constructor(private readonly options: GmailTransportOptions = {}) {}

  session(account: GmailAccount): GmailSession {
    return new GmailSession(account, this.options);
  }
}

interface Client {
  readonly jwt: InstanceType<GmailModule['auth']['JWT']>;
  readonly gmail: gmail_v1.Gmail;
}

/**
 * One account's Gmail API session: a service-account JWT impersonating the account's user,
 * a token bucket for its sends, and no retries behind the caller's back (gaxios retries are
 * off for the API and the token exchange alike): the platform decides every retry.
 */
export class GmailSession {
  readonly user: string;
  readonly #account: GmailAccount;
  readonly #options: GmailTransportOptions;
  readonly #pacer: SendPacer;
  readonly #readPacer: SendPacer;
  readonly #clock: PacingClock;
  #client: Promise<Client> | undefined;
  /** The access token in use, once known: kept only to scrub it from error text. */
  #accessToken: string | undefined;

  constructor(account: GmailAccount, options: GmailTransportOptions = {}) {
    this.user = account.user;
    this.#account = account;
    this.#options = options;
    this.#clock = options.clock ?? realClock;
    this.#pacer = new SendPacer(options.sendsPerMinute ?? 150, options.burst ?? 1, this.#clock);
    const reads = options.readsPerSecond ?? 40;
    this.#readPacer = new SendPacer(reads * 60, Math.max(1, Math.ceil(reads / 4)), this.#clock);
  }

  /**
   * Sends one raw RFC 822 message as the account's user and returns Gmail's id. Waits for
   * the pacer first; `mayStart` is asked just before the API call (a lease that ran out).
   */
  async send(raw: Buffer, mayStart: () => boolean = () => true): Promise<GmailSendResult> {
    await this.#pacer.take();
    const client = await this.#token();
    if (!mayStart()) {
      throw this.#error({ call: 'send', errorCode: 'ENOTSTARTED' }, 'not allowed to start a send now', 'ENOTSTARTED');
    }
    try {
      const res = await client.gmail.users.messages.send({ userId: 'me', requestBody: { raw: raw.toString('base64url') } });
      const id = res.data.id;
      if (!id) throw this.#error({ call: 'send' }, 'gmail answered a send without a message id', undefined, 'unknown');
      return { id, threadId: res.data.threadId ?? id };
    } catch (err) {
      throw this.#failure(err, 'send');
    }
  }

  /**
   * The Gmail id of the message with this Message-ID header in the user's Sent mail, or null.
   * Gmail's search index lags behind sends: null is final only some time after the send.
   */
  async findSent(headerMessageId: string): Promise<string | null> {
    const id = headerMessageId.trim().replace(/^<|>$/g, '');
    if (!id || /[\s"]/.test(id)) throw new RangeError('findSent needs a Message-ID');
    const client = await this.#token();
    try {
      const res = await client.gmail.users.messages.list({ userId: 'me', q: `in:sent rfc822msgid:${id}`, includeSpamTrash: true, maxResults: 10 });
      return res.data.messages?.find((m) => m.id)?.id ?? null;
    } catch (err) {
      throw this.#failure(err, 'read');
    }
  }

  /** The mailbox's current history id (users.getProfile): where history.list starts from later. */
  async currentHistoryId(): Promise<string> {
    const res = await this.#read((gmail) => gmail.users.getProfile({ userId: 'me' }));
    const id = res.data.historyId;
    if (!id || !HISTORY_ID.test(id)) throw this.#error({ call: 'read' }, 'gmail answered getProfile without a history id');
    return id;
  }

  /**
   * The messages added to a label (INBOX) since `startHistoryId`, read page by page up to
   * `maxPages`. An expired start id (404) is a GmailHistoryExpiredError: list the mailbox again.
   */
  async listHistory(startHistoryId: string, opts: HistoryOptions = {}): Promise<GmailHistoryPage> {
    if (!HISTORY_ID.test(startHistoryId)) throw new RangeError('listHistory needs a history id');
    const { pages, more } = await readPages(opts.maxPages ?? 10, async (pageToken) => {
      try {
        const res = await this.#read((gmail) =>
          gmail.users.history.list({
            userId: 'me',
            startHistoryId,
            historyTypes: ['messageAdded'],
            labelId: opts.labelId ?? 'INBOX',
            maxResults: opts.pageSize ?? 500,
            ...(pageToken ? { pageToken } : {}),
          }),
        );
        return res.data;
      } catch (err) {
        if (err instanceof GmailApiError && err.status === 404) throw new GmailHistoryExpiredError(err.message, err.classification);
        throw err;
      }
    });
    const records = pages.flatMap((p) => p.history ?? []);
    // Stopped at the bound: the next listing starts after the last record read; else at the mailbox's id.
    const next = more
      ? records.reduce((max, h) => (h.id && HISTORY_ID.test(h.id) && BigInt(h.id) > BigInt(max) ? h.id : max), startHistoryId)
      : pages.at(-1)?.historyId ?? startHistoryId;
    return { added: addedMessages(records), historyId: next, more };
  }

  /** A search (`q`, Gmail's syntax, e.g. `in:inbox newer_than:7d`), paged and bounded; oldest first. */
  async listMessages(q: string, opts: ListOptions = {}): Promise<GmailMessageList> {
    const { pages, more } = await readPages(opts.maxPages ?? 10, async (pageToken) => {
      const res = await this.#read((gmail) =>
        gmail.users.messages.list({
          userId: 'me',
          q,
          maxResults: opts.pageSize ?? 500,
          ...(opts.labelIds ? { labelIds: [...opts.labelIds] } : {}),
          ...(pageToken ? { pageToken } : {}),
        }),
      );
      return res.data;
    });
    const ids = pages.flatMap((p) => p.messages ?? []).flatMap((m) => (m.id ? [m.id] : []));
    // Gmail lists newest first.
    return { ids: [...new Set(ids)].reverse(), more };
  }

  /** One message's RFC 822 bytes (messages.get, format raw), cut at `maxBytes`. */
  async getRaw(id: string, maxBytes = 10 * 1024 * 1024): Promise<GmailRawMessage> {
    const res = await this.#read((gmail) => gmail.users.messages.get({ userId: 'me', id, format: 'raw' }));
    const { raw, truncated } = decodeRaw(res.data.raw, maxBytes);
    const date = Number(res.data.internalDate);
    return { id, raw, truncated, historyId: res.data.historyId ?? undefined, internalDate: Number.isFinite(date) && date > 0 ? new Date(date) : undefined };
  }

  /** Forgets the access token; the next call exchanges a new one. */
  close(): void {
    this.#client = undefined;
  }

  /** One read call: paced, with a valid token, its failure mapped as the others are. */
  async #read<T>(call: (gmail: gmail_v1.Gmail) => Promise<T>): Promise<T> {
    await this.#readPacer.take();
    const client = await this.#token();
    try {
      return await call(client.gmail);
    } catch (err) {
      throw this.#failure(err, 'read');
    }
  }

  /** The client, with a valid access token (exchanged now when there is none). */
  async #token(): Promise<Client> {
    let client: Client;
    try {
      client = await (this.#client ??= this.#build());
    } catch (err) {
      this.#client = undefined;
      throw this.#failure(err, 'token');
    }
    try {
      this.#accessToken = (await client.jwt.getAccessToken()).token ?? undefined;
      return client;
    } catch (err) {
      throw this.#failure(err, 'token');
    }
  }

  async #build(): Promise<Client> {
    const { auth, gmail: gmailApi } = await loadGmail();
    const sa = this.#account.serviceAccount;
    const timeout = this.#options.timeoutMs ?? 60_000;
    const jwt = new auth.JWT({
      email: sa.clientEmail,
      key: sa.privateKey,
      ...(sa.privateKeyId ? { keyId: sa.privateKeyId } : {}),
      scopes: [...(this.#options.scopes ?? GMAIL_SCOPES)],
      subject: this.#account.user,
      transporterOptions: { timeout },
    });
    // gtoken (under google-auth-library's JWT) posts to oauth2.googleapis.com whatever the key's
    // token_uri says, and retries that POST itself. The transporter's request interceptor is
    // gaxios' supported hook: it sends the exchange to token_uri and turns every retry off.
    jwt.transporter.interceptors.request.add({
      resolved: async (config) => {
        if (config.url.href === GOOGLE_TOKEN_URI && sa.tokenUri !== GOOGLE_TOKEN_URI) config.url = new URL(sa.tokenUri);
        config.retry = false;
        config.retryConfig = { ...config.retryConfig, retry: 0, noResponseRetries: 0 };
        return config;
      },
    });
    const gmail = gmailApi({
      version: 'v1',
      auth: jwt,
      ...(this.#options.rootUrl ? { rootUrl: this.#options.rootUrl } : {}),
      retry: false,
      timeout,
    });
    return { jwt, gmail };
  }

  #failure(err: unknown, call: GmailCall): GmailApiError {
    if (err instanceof GmailApiError) return err;
    const facts = readError(err, call, this.#account.serviceAccount.tokenUri);
    const input: GmailFailureInput = { ...facts.input, now: new Date(this.#clock.now()) };
    const c = classifyGmailError(input);
    const what = [input.status ?? input.errorCode ?? 'network error', facts.reason, input.message].filter(Boolean).join(' ');
    const error = this.#error(input, `gmail ${input.call} failed: ${what}`, input.errorCode, undefined, c, facts.reason);
    // A refused token: start over with a fresh exchange next time.
    if (c.reason === 'auth_failed') this.#client = undefined;
    return error;
  }

  #error(
    input: GmailFailureInput,
    message: string,
    errorCode?: string,
    delivered?: 'no' | 'unknown',
    classification: Classification = classifyGmailError({ ...input, now: new Date(this.#clock.now()) }),
    googleReason?: string,
  ): GmailApiError {
    const known = delivered ?? (classification.reason === 'uncertain' ? 'unknown' : 'no');
    return new GmailApiError(this.#redact(message), input.call, known, classification, input.status, googleReason, errorCode);
  }

  /** Google's text should hold no secret; this makes sure none of ours gets through. */
  #redact(text: string): string {
    const secrets = [this.#accessToken, this.#account.serviceAccount.privateKey].filter((s): s is string => typeof s === 'string' && s.length > 8);
    let out = text.replace(/\s+/g, ' ');
    for (const s of secrets) out = out.split(s).join('[redacted]');
    return out
      .replace(/-----BEGIN [^-]*PRIVATE KEY-----.*?(-----END [^-]*PRIVATE KEY-----|$)/g, '[redacted]')
      .replace(/\bya29\.[\w.-]+/g, '[redacted]')
      .replace(/\beyJ[\w-]*\.[\w-]+\.[\w-]*/g, '[redacted]')
      .slice(0, 400);
  }
}
