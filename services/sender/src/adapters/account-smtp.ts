import { createPrivateKey, type KeyObject } from 'node:crypto';
import { classifySmtpReply } from '@postbus/classify';
import { isPostbusError, type AccountState } from '@postbus/contracts';
import { getSecret, type ClaimedMessage, type Database, type Outcome, type SecretCipher } from '@postbus/db';
import { composeCompliant, signDkim, type TokenIssuer } from '@postbus/mail';
import type { Logger } from '@postbus/telemetry';
import { SmtpSendError, SmtpSession } from '@postbus/transports';
import { DEFAULT_RETRY_DELAYS_MS, outcomeOfFailure } from '../domain/outcome.js';

/** A failure that is the account's or the platform's, not the message's: the leader decides what follows. */
export interface Fault {
  readonly scope: 'account' | 'platform';
  readonly reason: string;
  readonly detail?: string;
  readonly retryAfter?: Date;
}

export interface SendResult {
  readonly outcome: Outcome;
  readonly fault?: Fault;
}

/** What the worker's lease offers a send: may a transaction start, and how long may it last. */
export interface SendLease {
  valid(): boolean;
  remainingMs(): number;
}

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

export interface ComplianceSettings {
  /** Issues tracking tokens (a TokenKeyring derived from the master keys). */
  readonly tokens: TokenIssuer;
  /** The tracking service's public base: `{base}/unsubscribe/…`, `/track/click/…`, `/track/open/…`. */
  readonly trackingBase: string;
  /** The last Feedback-ID field: one stable id for this deployment. */
  readonly feedbackSenderId: string;
  /** The platform-wide tracking switches, read at each message (runtime settings). */
  readonly tracking?: () => { readonly opens: boolean; readonly clicks: boolean };
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

  async send(account: AccountState, c: ClaimedMessage, now: Date, lease: SendLease): Promise<SendResult> {
    let composed;
    try {
      const { tokens, trackingBase, feedbackSenderId } = this.deps.compliance;
      const postalAddress = account.settings.postalAddress ?? undefined;
      // Bulk mail: one-click unsubscribe, the footer with the postal address, tracking.
      // Transactional mail: none of it unless asked (a postal address, if any, is not shown).
      const kind =
        c.kind === 'bulk'
          ? { mailType: 'bulk' as const, postalAddress: postalAddress ?? '' }
          : { mailType: 'transactional' as const, ...(postalAddress ? { postalAddress } : {}) };
      // The message's choice (default: on for bulk, off for transactional), never above the platform's switch.
      const global = this.deps.compliance.tracking?.() ?? { opens: true, clicks: true };
      const wanted = { opens: c.content.tracking?.opens ?? c.kind === 'bulk', clicks: c.content.tracking?.clicks ?? c.kind === 'bulk' };
      composed = composeCompliant({
        ...kind,
        tracking: { opens: global.opens && wanted.opens, clicks: global.clicks && wanted.clicks },
        accountId: account.id,
        ...(c.campaignId ? { campaignId: c.campaignId } : {}),
        trackingBase,
        feedbackSenderId,
        messageId: c.messageId,
        from: { address: account.fromAddress, name: account.settings.fromName },
        to: { address: c.recipient, name: c.content.toName ?? null },
        ...(c.content.replyTo ? { replyTo: c.content.replyTo } : {}),
        subject: c.content.subject,
        ...(c.content.text !== undefined ? { text: c.content.text } : {}),
        ...(c.content.html !== undefined ? { html: c.content.html } : {}),
        ...(c.content.headers ? { headers: c.content.headers } : {}),
        ...(c.content.variables ? { variables: c.content.variables } : {}),
        date: now,
        messageIdDomain: account.fromAddress.split('@')[1] ?? 'localhost',
      }, tokens);
    } catch (err) {
      this.deps.log.warn({ err, messageId: c.messageId }, 'message cannot be composed');
      return { outcome: { kind: 'failed', messageId: c.messageId, reason: isPostbusError(err) ? err.code : 'compose_failed' } };
    }
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
      session = await this.sessionFor(account);
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
      const res = await session.send({ from: composed.envelope.from, to: composed.envelope.to }, composed.raw, () => lease.valid());
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

  private async sessionFor(account: AccountState): Promise<SmtpSession> {
    const key = JSON.stringify(account.smtp);
    if (this.session && this.sessionKey === key) return this.session;
    this.session?.close();
    const password = await getSecret(this.deps.db, this.deps.cipher, account.smtp.secretId);
    this.session = new SmtpSession({
      host: account.smtp.host,
      port: account.smtp.port,
      tls: account.smtp.tls,
      user: account.smtp.user,
      password,
      timeoutMs: this.deps.smtpTimeoutMs ?? 60_000,
      ...(this.deps.clientName ? { clientName: this.deps.clientName } : {}),
      ...(this.deps.rejectUnauthorized !== undefined ? { rejectUnauthorized: this.deps.rejectUnauthorized } : {}),
    });
    this.sessionKey = key;
    return this.session;
  }
}
