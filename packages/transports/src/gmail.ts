import { classifyGmailError, type Classification, type GmailCall, type GmailFailureInput } from '@postbus/classify';
import type * as GmailEntry from 'googleapis/build/src/apis/gmail/index.js';
import type { gmail_v1 } from 'googleapis/build/src/apis/gmail/index.js';
import { GOOGLE_TOKEN_URI, type ServiceAccountCredentials } from './gmail-credentials.js';
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

  /** Forgets the access token; the next call exchanges a new one. */
  close(): void {
    this.#client = undefined;
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

interface ErrorFacts {
  readonly input: GmailFailureInput;
  readonly reason: string | undefined;
}

/** What a googleapis/gaxios error says, as the classifier's plain facts. */
function readError(err: unknown, call: GmailCall, tokenUri: string): ErrorFacts {
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    response?: { status?: unknown; headers?: unknown; data?: unknown };
    config?: { url?: unknown };
    code?: unknown;
    cause?: unknown;
  };
  const url = e.config?.url instanceof URL ? e.config.url.href : typeof e.config?.url === 'string' ? e.config.url : undefined;
  // A token exchange that googleapis ran inside an API call is still a token exchange.
  const actual: GmailCall = url === tokenUri || url === GOOGLE_TOKEN_URI ? 'token' : call;
  if (!('config' in e)) {
    // Not a gaxios error: our own stack failed, before any request went out.
    return { input: { call: actual, errorCode: 'EINTERNAL' }, reason: undefined };
  }
  const status = typeof e.response?.status === 'number' ? e.response.status : undefined;
  if (status === undefined) {
    const cause = e.cause as { name?: unknown; code?: unknown } | undefined;
    const code = typeof e.code === 'string' ? e.code : typeof cause?.code === 'string' ? cause.code : typeof cause?.name === 'string' ? cause.name : undefined;
    return { input: { call: actual, ...(code ? { errorCode: code } : {}) }, reason: undefined };
  }
  const retryAfter = headerOf(e.response?.headers, 'retry-after');
  const data = e.response?.data as { error?: unknown; error_description?: unknown } | undefined;
  const base = { call: actual, status, ...(retryAfter ? { retryAfter } : {}) };
  if (typeof data?.error === 'string') {
    const description = typeof data.error_description === 'string' ? data.error_description : undefined;
    return { input: { ...base, oauthError: data.error, ...(description ? { message: description } : {}) }, reason: data.error };
  }
  const api = (typeof data?.error === 'object' && data.error !== null ? data.error : {}) as {
    message?: unknown;
    status?: unknown;
    errors?: { reason?: unknown }[];
    details?: { reason?: unknown }[];
  };
  const reasons = [api.errors?.[0]?.reason, api.details?.find((d) => typeof d?.reason === 'string')?.reason, api.status];
  const reason = reasons.find((r): r is string => typeof r === 'string');
  const message = typeof api.message === 'string' ? api.message : undefined;
  return { input: { ...base, ...(reason ? { reason } : {}), ...(message ? { message } : {}) }, reason };
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (headers && typeof (headers as { get?: unknown }).get === 'function') return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  const v = (headers as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : undefined;
}
