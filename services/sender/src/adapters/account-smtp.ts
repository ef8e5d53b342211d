import { classifySmtpReply } from '@postbus/classify';
import { isPostbusError, type AccountState } from '@postbus/contracts';
import { getSecret, type ClaimedMessage, type Database, type Outcome, type SecretCipher } from '@postbus/db';
import { composeMessage } from '@postbus/mail';
import type { Logger } from '@postbus/telemetry';
import { SmtpSendError, SmtpSession } from '@postbus/transports';
import { DEFAULT_RETRY_DELAYS_MS, outcomeOfFailure } from '../domain/outcome.js';

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
}

/**
 * One account's way out: compose a claimed message, send it over the account's session,
 * and say what happened as an Outcome. The session is rebuilt when the account's SMTP
 * settings change; the password is read (and decrypted) only then.
 */
export class AccountSmtp {
  private session: SmtpSession | undefined;
  private sessionKey = '';

  constructor(private readonly deps: AccountSmtpDeps) {}

  async send(account: AccountState, c: ClaimedMessage, now: Date): Promise<Outcome> {
    let composed;
    try {
      composed = composeMessage({
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
      });
    } catch (err) {
      this.deps.log.warn({ err, messageId: c.messageId }, 'message cannot be composed');
      return { kind: 'failed', messageId: c.messageId, reason: isPostbusError(err) ? err.code : 'compose_failed' };
    }
    try {
      const session = await this.sessionFor(account);
      const res = await session.send({ from: composed.envelope.from, to: composed.envelope.to }, composed.raw);
      return { kind: 'sent', messageId: c.messageId, replyCode: res.replyCode, reply: res.response.slice(0, 1000), headerMessageId: composed.headerMessageId };
    } catch (err) {
      if (!(err instanceof SmtpSendError)) throw err;
      const classification = classifySmtpReply({
        phase: err.phase,
        ...(err.replyCode !== undefined ? { replyCode: err.replyCode } : {}),
        ...(err.response !== undefined ? { response: err.response } : {}),
        ...(err.errorCode !== undefined ? { errorCode: err.errorCode } : {}),
      });
      this.deps.log.info({ messageId: c.messageId, phase: err.phase, replyCode: err.replyCode, reason: classification.reason, scope: classification.scope }, 'send failed');
      return outcomeOfFailure({
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
    }
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
