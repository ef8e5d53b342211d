import { eventIds, type MailEvent } from '@postbus/contracts';
import { GMAIL_REPLY, type Outcome, type SettledMessage, type WorkRef } from '@postbus/db';

/** The MAIL events a worker appends, built from ledger facts (pure: time and ids come in). */

export interface AttemptRef extends WorkRef {
  readonly accountId: string;
}

const iso = (d: Date) => d.toISOString();

export function outcomeEvent(ref: AttemptRef, o: Outcome, at: Date, startedAt: Date): MailEvent {
  const base = { occurredAt: iso(at), accountId: ref.accountId, messageId: ref.messageId, version: 1 as const };
  const id = (token: string) => eventIds.attempt(ref.messageId, ref.assignment, ref.attempt, token);
  const reply = (x: { replyCode?: number; reply?: string }) => ({
    ...(x.replyCode !== undefined ? { replyCode: x.replyCode } : {}),
    ...(x.reply !== undefined ? { response: x.reply.slice(0, 1000) } : {}),
    ...(enhanced(x.reply) ? { enhancedCode: enhanced(x.reply)! } : {}),
  });
  switch (o.kind) {
    case 'sent':
      return {
        ...base,
        id: id('sent'),
        type: 'EmailSent',
        data: {
          assignment: ref.assignment,
          attempt: ref.attempt,
          startedAt: iso(startedAt),
          headerMessageId: o.headerMessageId,
          ...(o.providerMessageId ? { providerMessageId: o.providerMessageId } : {}),
          ...reply(o),
        },
      };
    case 'retry':
      return {
        ...base,
        id: id('send_failed'),
        type: 'EmailSendFailed',
        data: {
          assignment: ref.assignment,
          attempt: ref.attempt,
          scope: o.consumed ? 'message' : 'account',
          reason: o.reason.slice(0, 100),
          attemptConsumed: o.consumed,
          nextAttemptAt: iso(o.nextAttemptAt),
          ...reply(o),
        },
      };
    case 'failed':
      return { ...base, id: id('failed'), type: 'EmailFailed', data: { attempt: ref.attempt, reason: o.reason.slice(0, 100), ...reply(o) } };
    case 'uncertain':
      return { ...base, id: id('uncertain'), type: 'EmailUncertain', data: { attempt: ref.attempt, reason: o.reason.slice(0, 200) } };
    default: {
      const never: never = o;
      return never;
    }
  }
}

export function suppressedEvent(ref: AttemptRef, at: Date, readAt: Date): MailEvent {
  return {
    id: eventIds.attempt(ref.messageId, ref.assignment, ref.attempt, 'suppressed'),
    type: 'EmailSuppressed',
    version: 1,
    occurredAt: iso(at),
    accountId: ref.accountId,
    messageId: ref.messageId,
    data: { attempt: ref.attempt, readAt: iso(readAt) },
  };
}

export function expiredEvent(accountId: string, messageId: string, expiresAt: Date, at: Date): MailEvent {
  return { id: eventIds.expired(messageId), type: 'EmailExpired', version: 1, occurredAt: iso(at), accountId, messageId, data: { expiresAt: iso(expiresAt) } };
}

/** A work item came back for a message already settled: the event of its settled state, same id as before. */
export function settledEvent(accountId: string, s: SettledMessage): MailEvent | undefined {
  const ref = { accountId, messageId: s.messageId, assignment: s.assignment, attempt: s.attempt };
  const at = s.outcomeAt ?? s.sendingAt ?? new Date(0);
  const reply = { ...(s.replyCode !== null ? { replyCode: s.replyCode } : {}), ...(s.reply !== null ? { reply: s.reply } : {}) };
  switch (s.state) {
    case 'sent': {
      const providerMessageId = GMAIL_REPLY.parse(s.reply);
      return outcomeEvent(ref, { kind: 'sent', messageId: s.messageId, headerMessageId: s.headerMessageId ?? '', ...reply, ...(providerMessageId ? { providerMessageId } : {}) }, at, s.sendingAt ?? at);
    }
    case 'failed':
      return outcomeEvent(ref, { kind: 'failed', messageId: s.messageId, reason: s.reason ?? 'failed', ...reply }, at, at);
    case 'uncertain':
      return outcomeEvent(ref, { kind: 'uncertain', messageId: s.messageId, reason: s.reason ?? 'uncertain' }, at, at);
    case 'suppressed':
      return suppressedEvent(ref, at, at);
    case 'expired':
      return expiredEvent(accountId, s.messageId, s.expiresAt, at);
    default:
      return undefined;
  }
}

function enhanced(text: string | undefined): string | undefined {
  return text ? /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(text)?.[1] : undefined;
}
