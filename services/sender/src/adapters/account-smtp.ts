import { createPrivateKey, type KeyObject } from 'node:crypto';
import { classifySmtpReply } from '@postbus/classify';
import { isPostbusError, verpAddress, type AccountState, type SmtpSettings } from '@postbus/contracts';
import { getSecret, type ClaimedMessage, type Database, type SecretCipher } from '@postbus/db';
import { envelopeOf, signDkim } from '@postbus/mail';
import { SpanKind, inSpan, type Logger } from '@postbus/telemetry';
import { SmtpSendError, SmtpSession, type SmtpEnvelope } from '@postbus/transports';
import { DEFAULT_RETRY_DELAYS_MS, outcomeOfFailure } from '../domain/outcome.js';
import { composeFor, type ComplianceSettings, type SendLease, type SendResult } from './compose.js';

export type { ComplianceSettings, Fault, SendLease, SendResult } from './compose.js';

export interface AccountSmtpDeps {
  readonly db: Database;
  readonly cipher: SecretCipher;
  readonly log: Logger;
  readonly clock: () => Date;
  readonly retryDelaysMs?: readonly number[];
  readonly accountBackoffMs?: number;
  readonly smtpTimeoutMs?: number;
  readonly clientName?: string;
  readonly rejectUnauthorized?: boolean;
  /** Compliance by construction: tokens for the unsubscribe link, tracked links and the open pixel. */
  readonly compliance: ComplianceSettings;
}

/**
 * One account's way out: compose a claimed message, send it over the account's session,
 * and say what happened as an Outcome. The session is rebuilt when the account's SMTP
 * settings change; the password is read (and decrypted) only then.
 */
export class AccountSmtp {
  private session: SmtpSession | undefined;
  private readonly dkimKeys = new Map<string, KeyObject>();
  private sessionKey = '';

  constructor(private readonly deps: AccountSmtpDeps) {}

  /**
   * Sends `c`. `next`, the message the worker means to send after it, has its envelope
   * pipelined behind this one (see SmtpSession.send); nothing of it is sent before its own
   * `send`, which the worker calls only once the ledger has it `sending`.
   */
  async send(account: AccountState, c: ClaimedMessage, now: Date, lease: SendLease, next?: ClaimedMessage): Promise<SendResult> {
    const c1 = composeFor(account, c, now, this.deps.compliance, this.deps.log);
    if ('result' in c1) return c1.result;
    let composed = c1.composed;
    const dkim = account.settings.dkim;
    if (dkim) {
      try {
        composed = { ...composed, raw: signDkim(composed.raw, { domain: dkim.domain, selector: dkim.selector, privateKey: await this.dkimKey(dkim.secretId) }) };
      } catch (err) {
        // The account's key is at fault, not the message: hold it back and tell the leader.
        this.deps.log.warn({ err: isPostbusError(err) ? err.code : 'dkim_failed', domain: dkim.domain }, 'message not signed');
        const nextAttemptAt = new Date(this.deps.clock().getTime() + (this.deps.accountBackoffMs ?? 30_000));
        return { outcome: { kind: 'retry', messageId: c.messageId, consumed: false, reason: 'dkim_failed', nextAttemptAt }, fault: { scope: 'account', reason: 'dkim_failed' } };
      }
    }
    let session: SmtpSession;
    try {
      if (account.provider !== 'smtp') throw new Error(`account ${account.id} is not an SMTP account`);
      session = await this.sessionFor(account.smtp);
    } catch (err) {
      // The password could not be read (Postgres away, a key missing): nothing was sent, so
      // no attempt is used and the row does not stay `sending`.
      this.deps.log.warn({ err, messageId: c.messageId }, 'account credentials unavailable');
      const nextAttemptAt = new Date(this.deps.clock().getTime() + (this.deps.accountBackoffMs ?? 30_000));
      return { outcome: { kind: 'retry', messageId: c.messageId, consumed: false, reason: 'credentials_unavailable', nextAttemptAt } };
    }
    let cutoff: NodeJS.Timeout | undefined;
    try {
      // No transaction outlives the lease: at its deadline the connection is cut (a message
      // already streaming becomes `uncertain`), so a new owner never overlaps with this one.
      cutoff = setTimeout(() => session.close(), Math.max(0, lease.remainingMs()));
      // VERP where the account's server allows it: the return path names the message.
      const from = returnPath(account, composed.envelope.from, c.messageId);
      const behind = next ? nextEnvelope(account, next) : undefined;
      // Traced with the account, the message id and the reply code: never an address or the subject (invariant 8).
      const res = await inSpan('smtp.send', { 'postbus.account.id': account.id, 'postbus.message.id': c.messageId }, async (span) => {
        try {
          const r = await session.send({ from, to: composed.envelope.to }, composed.raw, () => lease.valid(), behind);
          span.setAttribute('smtp.reply_code', r.replyCode);
          return r;
        } catch (err) {
          if (err instanceof SmtpSendError) span.setAttributes({ 'smtp.phase': err.phase, ...(err.replyCode !== undefined ? { 'smtp.reply_code': err.replyCode } : {}) });
          throw err;
        }
      }, SpanKind.CLIENT);
      return { outcome: { kind: 'sent', messageId: c.messageId, replyCode: res.replyCode, reply: res.response.slice(0, 1000), headerMessageId: composed.headerMessageId } };
    } catch (err) {
      if (!(err instanceof SmtpSendError)) throw err;
      if (err.errorCode === 'ENOTSTARTED') {
        // Nothing reached the server: the message goes back, no attempt used.
        const nextAttemptAt = new Date(this.deps.clock().getTime() + (this.deps.accountBackoffMs ?? 30_000));
        return { outcome: { kind: 'retry', messageId: c.messageId, consumed: false, reason: 'lease_expired', nextAttemptAt } };
      }
      const classification = classifySmtpReply({
        phase: err.phase,
        ...(err.replyCode !== undefined ? { replyCode: err.replyCode } : {}),
        ...(err.response !== undefined ? { response: err.response } : {}),
        ...(err.errorCode !== undefined ? { errorCode: err.errorCode } : {}),
      });
      this.deps.log.info({ messageId: c.messageId, phase: err.phase, replyCode: err.replyCode, reason: classification.reason, scope: classification.scope }, 'send failed');
      const outcome = outcomeOfFailure({
        messageId: c.messageId,
        classification,
        delivered: err.delivered,
        sendFailures: c.sendFailures,
        ...(err.replyCode !== undefined ? { replyCode: err.replyCode } : {}),
        ...(err.response !== undefined ? { reply: err.response } : {}),
        now: this.deps.clock(),
        retryDelaysMs: this.deps.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS,
        accountBackoffMs: this.deps.accountBackoffMs ?? 30_000,
      });
      if (classification.scope === 'message') return { outcome };
      return { outcome, fault: { scope: classification.scope, reason: classification.reason, ...(err.response ? { detail: err.response.slice(0, 300) } : {}) } };
    } finally {
      clearTimeout(cutoff);
    }
  }

  /** The DKIM key, decrypted and parsed once per secret (a new key is a new secret id). */
  private async dkimKey(secretId: string): Promise<KeyObject> {
    let key = this.dkimKeys.get(secretId);
    if (!key) {
      key = createPrivateKey(await getSecret(this.deps.db, this.deps.cipher, secretId));
      this.dkimKeys.clear();
      this.dkimKeys.set(secretId, key);
    }
    return key;
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  private async sessionFor(smtp: SmtpSettings): Promise<SmtpSession> {
    const key = JSON.stringify(smtp);
    if (this.session && this.sessionKey === key) return this.session;
    this.session?.close();
    const password = await getSecret(this.deps.db, this.deps.cipher, smtp.secretId);
    this.session = new SmtpSession({
      host: smtp.host,
      port: smtp.port,
      tls: smtp.tls,
      user: smtp.user,
      password,
      timeoutMs: this.deps.smtpTimeoutMs ?? 60_000,
      ...(this.deps.clientName ? { clientName: this.deps.clientName } : {}),
      ...(this.deps.rejectUnauthorized !== undefined ? { rejectUnauthorized: this.deps.rejectUnauthorized } : {}),
    });
    this.sessionKey = key;
    return this.session;
  }
}

/** VERP where the account's server allows it: the return path names the message. */
function returnPath(account: AccountState, from: string, messageId: string): string {
  return account.settings.verp ? verpAddress(from, messageId) : from;
}

/**
 * The envelope the next message will be sent with (composing it gives the same, envelopeOf); none for one
 * that cannot be composed (its send fails on its own), or for an account that waits between
 * messages long enough that a server could tire of a transaction left open at DATA.
 */
export function nextEnvelope(account: AccountState, next: ClaimedMessage): SmtpEnvelope | undefined {
  if (account.settings.sendDelayMs > MAX_DELAY_WITH_ENVELOPE_AHEAD_MS) return undefined;
  try {
    const e = envelopeOf(account.fromAddress, next.recipient);
    return { from: returnPath(account, e.from, next.messageId), to: e.to };
  } catch {
    return undefined;
  }
}

/** Longest send delay at which the next envelope is pipelined ahead (a server's DATA timeout is minutes). */
export const MAX_DELAY_WITH_ENVELOPE_AHEAD_MS = 1_000;
