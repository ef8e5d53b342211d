import { isPostbusError, type AccountState } from '@postbus/contracts';
import type { ClaimedMessage, Outcome } from '@postbus/db';
import { composeCompliant, formatMessageId, type CompliantMessage, type TokenIssuer } from '@postbus/mail';
import type { Logger } from '@postbus/telemetry';

/**
 * What every way out shares (SMTP, the Gmail API): the send contract and the compliant
 * composition of a claimed message.
 */

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

export interface ComplianceSettings {
  /** Issues tracking tokens (a TokenKeyring derived from the master keys). */
  readonly tokens: TokenIssuer;
  /** The tracking service's public base: `{base}/unsubscribe/…`, `/track/click/…`, `/track/open/…`. */
  readonly trackingBase: string;
  /** The last Feedback-ID field: one stable id for this deployment. */
  readonly feedbackSenderId: string;
  /** The platform's unsubscribe mailbox: List-Unsubscribe offers `mailto:` it too (with the message's token). */
  readonly unsubscribeMailbox?: string;
  /** The platform's and the campaign's tracking switches, read at each message (runtime settings). */
  readonly tracking?: (campaignId: string | undefined) => { readonly opens: boolean; readonly clicks: boolean };
}

/** The domain of every Message-ID an account writes: its From address's. */
export function messageIdDomainOf(fromAddress: string): string {
  return fromAddress.split('@')[1] ?? 'localhost';
}

/** The Message-ID header a message of this account carries (the same at every attempt). */
export function headerMessageIdOf(messageId: string, fromAddress: string): string {
  return formatMessageId(messageId, messageIdDomainOf(fromAddress));
}

/**
 * Composes a claimed message compliant by construction (unsubscribe, footer, tracking,
 * Feedback-ID), or says why it cannot be: a message-scope failure.
 */
export function composeFor(
  account: AccountState,
  c: ClaimedMessage,
  now: Date,
  compliance: ComplianceSettings,
  log: Logger,
): { readonly composed: CompliantMessage } | { readonly result: SendResult } {
  try {
    const { tokens, trackingBase, feedbackSenderId, unsubscribeMailbox } = compliance;
    const postalAddress = account.settings.postalAddress ?? undefined;
    // Bulk mail: one-click unsubscribe, the footer with the postal address, tracking.
    // Transactional mail: none of it unless asked (a postal address, if any, is not shown).
    const kind =
      c.kind === 'bulk'
        ? { mailType: 'bulk' as const, postalAddress: postalAddress ?? '' }
        : { mailType: 'transactional' as const, ...(postalAddress ? { postalAddress } : {}) };
    // The message's choice (default: on for bulk, off for transactional), never above the platform's switch.
    const global = compliance.tracking?.(c.campaignId ?? undefined) ?? { opens: true, clicks: true };
    const wanted = { opens: c.content.tracking?.opens ?? c.kind === 'bulk', clicks: c.content.tracking?.clicks ?? c.kind === 'bulk' };
    const composed = composeCompliant({
      ...kind,
      tracking: { opens: global.opens && wanted.opens, clicks: global.clicks && wanted.clicks },
      accountId: account.id,
      ...(c.campaignId ? { campaignId: c.campaignId } : {}),
      trackingBase,
      feedbackSenderId,
      ...(unsubscribeMailbox ? { unsubscribeMailbox } : {}),
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
      messageIdDomain: messageIdDomainOf(account.fromAddress),
    }, tokens);
    return { composed };
  } catch (err) {
    log.warn({ err, messageId: c.messageId }, 'message cannot be composed');
    return { result: { outcome: { kind: 'failed', messageId: c.messageId, reason: isPostbusError(err) ? err.code : 'compose_failed' } } };
  }
}
