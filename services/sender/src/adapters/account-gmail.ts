import type { AccountState, GmailSettings } from '@postbus/contracts';
import { GMAIL_REPLY, getSecret, type ClaimedMessage, type Database, type Outcome, type SecretCipher } from '@postbus/db';
import { SpanKind, inSpan, type Logger } from '@postbus/telemetry';
import { GmailApiError, GmailConfigError, GmailTransport, parseServiceAccountKey, type GmailSession } from '@postbus/transports';
import { DEFAULT_RETRY_DELAYS_MS, outcomeOfFailure } from '../domain/outcome.js';
import { composeFor, type ComplianceSettings, type Fault, type SendLease, type SendResult } from './compose.js';

/** How the sender reaches the Gmail API (from config). */
export interface GmailOptions {
  /** googleapis' rootUrl. Default Google's. */
  readonly apiUrl?: string;
  /** Token endpoints a stored key may name besides Google's (tests: the stand-in's). */
  readonly trustedTokenUris?: readonly string[];
  /** Sends a minute per user. Default 150. */
  readonly sendsPerMinute?: number;
  /** Per request, token exchange included. Default 60 s. */
  readonly timeoutMs?: number;
  /** How long after a send began a Sent-mail search may still miss it. Default 5 minutes. */
  readonly sentLookupWindowMs?: number;
}

export interface AccountGmailDeps {
  readonly db: Database;
  readonly cipher: SecretCipher;
  readonly log: Logger;
  readonly clock: () => Date;
  readonly retryDelaysMs?: readonly number[];
  readonly accountBackoffMs?: number;
  readonly compliance: ComplianceSettings;
  readonly gmail?: GmailOptions;
}

/**
 * One Gmail account's way out: compose a claimed message (as for SMTP; no DKIM — Google signs),
 * send it through the Gmail API as the account's user, and say what happened as an Outcome.
 * One session per account, rebuilt when its key (secret id) or user changes; the key is read
 * and decrypted only then.
 */
export class AccountGmail {
  private session: GmailSession | undefined;
  private sessionKey = '';
  private readonly transport: GmailTransport;

  constructor(private readonly deps: AccountGmailDeps) {
    const g = deps.gmail ?? {};
    this.transport = new GmailTransport({
      ...(g.apiUrl ? { rootUrl: g.apiUrl } : {}),
      ...(g.sendsPerMinute ? { sendsPerMinute: g.sendsPerMinute } : {}),
      ...(g.timeoutMs ? { timeoutMs: g.timeoutMs } : {}),
    });
  }

  async send(account: AccountState, c: ClaimedMessage, now: Date, lease: SendLease): Promise<SendResult> {
    const composedOrResult = composeFor(account, c, now, this.deps.compliance, this.deps.log);
    if ('result' in composedOrResult) return composedOrResult.result;
    const { composed } = composedOrResult;
    let session: GmailSession;
    try {
      session = await this.sessionFor(account);
    } catch (err) {
      // The key could not be read (Postgres away, a master key missing, a key no longer
      // accepted): nothing was sent, no attempt is used and the row does not stay `sending`.
      this.deps.log.warn({ err: (err as Error).message, messageId: c.messageId }, 'gmail credentials unavailable');
      if (!(err instanceof GmailConfigError)) return { outcome: this.holdBack(c, 'credentials_unavailable') };
      // The stored key is refused now (a token URI no longer trusted): a person has to look.
      return { outcome: this.holdBack(c, err.code), fault: { scope: 'account', reason: err.code, detail: err.message } };
    }
    try {
      const res = await inSpan('gmail.send', { 'postbus.account.id': account.id, 'postbus.message.id': c.messageId }, async (span) => {
        try {
          return await session.send(composed.raw, () => lease.valid());
        } catch (err) {
          if (err instanceof GmailApiError && err.status !== undefined) span.setAttribute('http.response.status_code', err.status);
          throw err;
        }
      }, SpanKind.CLIENT);
      return {
        outcome: { kind: 'sent', messageId: c.messageId, headerMessageId: composed.headerMessageId, reply: GMAIL_REPLY.format(res.id), providerMessageId: res.id },
      };
    } catch (err) {
      if (!(err instanceof GmailApiError)) throw err;
      // Nothing went to Google (the lease ran out before the call): back, no attempt used.
      if (err.errorCode === 'ENOTSTARTED') return { outcome: this.holdBack(c, 'lease_expired') };
      return this.failure(err, c);
    }
  }

  /** Gmail's id of the message with this Message-ID in the account's Sent mail, or null (throws GmailApiError when the search failed). */
  async findSent(account: AccountState, headerMessageId: string): Promise<string | null> {
    return (await this.sessionFor(account)).findSent(headerMessageId);
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  private failure(err: GmailApiError, c: ClaimedMessage): SendResult {
    const classification = err.classification;
    const now = this.deps.clock();
    this.deps.log.info({ messageId: c.messageId, call: err.call, status: err.status, googleReason: err.googleReason, reason: classification.reason, scope: classification.scope }, 'gmail send failed');
    let outcome: Outcome = outcomeOfFailure({
      messageId: c.messageId,
      classification,
      delivered: err.delivered,
      sendFailures: c.sendFailures,
      reply: err.message,
      now,
      retryDelaysMs: this.deps.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS,
      accountBackoffMs: this.deps.accountBackoffMs ?? 30_000,
    });
    // Google may hold the message: settled by a Sent-mail search, never by a resend.
    if (outcome.kind === 'uncertain') outcome = { ...outcome, reason: `gmail_unanswered:${classification.reason}` };
    if (classification.scope === 'message') return { outcome };
    const fault: Fault = {
      scope: classification.scope,
      reason: classification.reason,
      detail: err.message.slice(0, 300),
      ...(classification.retryAfterMs !== undefined ? { retryAfter: new Date(now.getTime() + classification.retryAfterMs) } : {}),
    };
    return { outcome, fault };
  }

  private holdBack(c: ClaimedMessage, reason: string): Outcome {
    const nextAttemptAt = new Date(this.deps.clock().getTime() + (this.deps.accountBackoffMs ?? 30_000));
    return { kind: 'retry', messageId: c.messageId, consumed: false, reason, nextAttemptAt };
  }

  private async sessionFor(account: AccountState): Promise<GmailSession> {
    if (account.provider !== 'gmail') throw new Error(`account ${account.id} is not a Gmail account`);
    const g: GmailSettings = account.gmail;
    const key = `${g.user}\n${g.secretId}`;
    if (this.session && this.sessionKey === key) return this.session;
    this.session?.close();
    this.session = undefined;
    const json = await getSecret(this.deps.db, this.deps.cipher, g.secretId);
    const serviceAccount = parseServiceAccountKey(json, this.deps.gmail?.trustedTokenUris ?? []);
    this.session = this.transport.session({ user: g.user, serviceAccount });
    this.sessionKey = key;
    return this.session;
  }
}
