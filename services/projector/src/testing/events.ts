import {
  MAIL_BATCH_SUBJECT_TOKEN,
  MAIL_SUBJECT_TOKEN,
  emailsSent,
  newId,
  opensRecordedEventId,
  suppressionShard,
  TRACKING_SUBJECT_TOKEN,
  subjectsFor,
  UNASSIGNED,
  type AccountEvent,
  type EmailRequested,
  type EmailSent,
  type EmailsSent,
  type MailEvent,
  type Namespace,
  type PostbusEvent,
  type SendingSettings,
  type HitSource,
  type SuppressionEvent,
  type TrackingEvent,
} from '@postbus/contracts';

/** Event builders for tests: realistic envelopes with ids derived from their cause. */

const iso = (at: Date | string) => (typeof at === 'string' ? at : at.toISOString());

export const ids = {
  message: () => newId('msg'),
  account: () => newId('acc'),
  secret: () => newId('sec'),
};

export function requested(
  messageId: string,
  at: Date | string,
  o: { to?: string; subject?: string; kind?: 'bulk' | 'transactional'; campaignId?: string } = {},
): EmailRequested {
  return {
    id: `${messageId}.requested`,
    type: 'EmailRequested',
    version: 1,
    occurredAt: iso(at),
    messageId,
    data: {
      kind: o.kind ?? 'bulk',
      ...(o.campaignId ? { campaignId: o.campaignId } : {}),
      content: { to: o.to ?? 'someone@example.org', subject: o.subject ?? 'Hello', text: 'a body the logs must not keep' },
      expiresAt: '2030-01-01T00:00:00Z',
      requestedBy: 'test',
    },
  };
}

type Attempt = { messageId: string; accountId: string; assignment?: number; attempt?: number };
const envelope = (r: Attempt, token: string, at: Date | string) => ({
  id: `${r.messageId}.${r.assignment ?? 1}.${r.attempt ?? 1}.${token}`,
  version: 1 as const,
  occurredAt: iso(at),
  accountId: r.accountId,
  messageId: r.messageId,
});

export const mail = {
  queued: (r: Attempt, at: Date | string, o: { to?: string; subject?: string; requestedAt?: string; campaignId?: string } = {}): MailEvent => ({
    ...envelope(r, 'queued', at),
    type: 'EmailQueued',
    data: {
      assignment: r.assignment ?? 1,
      attempt: r.attempt ?? 1,
      kind: 'bulk',
      to: o.to ?? 'someone@example.org',
      subject: o.subject ?? 'Hello',
      ...(o.campaignId ? { campaignId: o.campaignId } : {}),
      requestedAt: o.requestedAt ?? iso(at),
    },
  }),
  waiting: (messageId: string, at: Date | string, o: { requestedAt?: string } = {}): MailEvent => ({
    id: `${messageId}.waiting`,
    type: 'EmailWaiting',
    version: 1,
    occurredAt: iso(at),
    messageId,
    data: { kind: 'bulk', to: 'someone@example.org', subject: 'Hello', requestedAt: o.requestedAt ?? iso(at), reason: 'no_account_room' },
  }),
  sent: (r: Attempt, at: Date | string): MailEvent => ({
    ...envelope(r, 'sent', at),
    type: 'EmailSent',
    data: { assignment: r.assignment ?? 1, attempt: r.attempt ?? 1, startedAt: iso(at), headerMessageId: `<${r.messageId}@postbus>`, replyCode: 250, response: '250 2.0.0 OK' },
  }),
  sendFailed: (r: Attempt, at: Date | string, reason = 'greylisted'): MailEvent => ({
    ...envelope(r, 'send_failed', at),
    type: 'EmailSendFailed',
    data: {
      assignment: r.assignment ?? 1,
      attempt: r.attempt ?? 1,
      scope: 'message',
      reason,
      attemptConsumed: true,
      nextAttemptAt: '2030-01-01T00:00:00Z',
      replyCode: 451,
    },
  }),
  failed: (r: Attempt, at: Date | string, reason = 'mailbox_unavailable'): MailEvent => ({
    ...envelope(r, 'failed', at),
    type: 'EmailFailed',
    data: { attempt: r.attempt ?? 1, reason, replyCode: 550 },
  }),
  suppressed: (r: Attempt, at: Date | string): MailEvent => ({
    ...envelope(r, 'suppressed', at),
    type: 'EmailSuppressed',
    data: { attempt: r.attempt ?? 1, readAt: iso(at) },
  }),
  uncertain: (r: Attempt, at: Date | string): MailEvent => ({
    ...envelope(r, 'uncertain', at),
    type: 'EmailUncertain',
    data: { attempt: r.attempt ?? 1, reason: 'connection_lost_after_data' },
  }),
  expired: (messageId: string, accountId: string | undefined, at: Date | string): MailEvent => ({
    id: `${messageId}.expired`,
    type: 'EmailExpired',
    version: 1,
    occurredAt: iso(at),
    ...(accountId ? { accountId } : {}),
    messageId,
    data: { expiresAt: iso(at) },
  }),
};

export const SETTINGS: SendingSettings = { dailyLimit: 2000, batchSize: 50, sendDelayMs: 100, postalAddress: '1 Main St, Springfield', fromName: 'Shop' };

export const account = {
  registered: (accountId: string, at: Date | string, secretId = ids.secret()): AccountEvent => ({
    id: `${accountId}.registered`,
    type: 'AccountRegistered',
    version: 1,
    occurredAt: iso(at),
    accountId,
    data: {
      name: 'Shop sender',
      provider: 'smtp',
      fromAddress: 'news@shop.example',
      smtp: { host: 'smtp.shop.example', port: 587, tls: 'starttls', user: 'news', secretId },
      settings: SETTINGS,
      actor: 'admin',
    },
  }),
  settingsChanged: (accountId: string, n: number, at: Date | string, changes: Partial<SendingSettings>): AccountEvent => ({
    id: `${accountId}.settings.${n}`,
    type: 'AccountSettingsChanged',
    version: 1,
    occurredAt: iso(at),
    accountId,
    data: { changes, actor: 'admin' },
  }),
  credentialsChanged: (accountId: string, at: Date | string, host: string, secretId = ids.secret()): AccountEvent => ({
    id: `${accountId}.credentials.${host}`,
    type: 'AccountCredentialsChanged',
    version: 1,
    occurredAt: iso(at),
    accountId,
    data: { smtp: { host, port: 465, tls: 'implicit', user: 'news', secretId }, actor: 'admin' },
  }),
};

type Hit = { messageId: string; accountId: string; campaignId?: string };
const hit = (r: Hit, id: string, at: Date | string) => ({ id, version: 1 as const, occurredAt: iso(at), accountId: r.accountId, messageId: r.messageId });
const campaign = (r: Hit) => (r.campaignId ? { campaignId: r.campaignId } : {});

const openId = (r: Hit, at: Date | string, source: HitSource) => `${r.messageId}.opened.${source}.${iso(at).slice(0, 16)}`;

/** Ids as the tracking service derives them: the source and the minute of the hit are part of a hit's id. */
export const tracking = {
  /** One open as its own event, as the tracking service wrote opens before it batched them. */
  opened: (r: Hit, at: Date | string, source: HitSource = 'human'): TrackingEvent => ({
    ...hit(r, openId(r, at, source), at),
    type: 'EmailOpened',
    data: { ...campaign(r), source },
  }),
  /** One account's opens of one flush; each keeps the id it would have had as an EmailOpened. */
  opensRecorded: (accountId: string, opens: ReadonlyArray<{ r: Hit; at: Date | string; source?: HitSource }>): TrackingEvent => {
    const items = opens.map(({ r, at, source = 'human' }) => ({ id: openId(r, at, source), messageId: r.messageId, occurredAt: iso(at), ...campaign(r), source }));
    return {
      id: opensRecordedEventId(items.map((o) => o.id)),
      type: 'OpensRecorded',
      version: 1,
      occurredAt: items.map((o) => o.occurredAt).sort().at(-1)!,
      accountId,
      data: { opens: items },
    };
  },
  clicked: (r: Hit, at: Date | string, url: string, source: HitSource = 'human'): TrackingEvent => ({
    ...hit(r, `${r.messageId}.clicked.${url.length}.${source}.${iso(at).slice(0, 16)}`, at),
    type: 'LinkClicked',
    data: { ...campaign(r), url, source },
  }),
  unsubscribed: (r: Hit, at: Date | string, addressHash: string, method: 'one_click' | 'page' = 'one_click'): TrackingEvent => ({
    ...hit(r, `${r.messageId}.unsubscribed`, at),
    type: 'Unsubscribed',
    data: { ...campaign(r), addressHash, method },
  }),
};

export const suppression = {
  suppressed: (addressHash: string, at: Date | string, reason = 'unsubscribed', source = 'tracking'): SuppressionEvent => ({
    id: `evt_${addressHash.slice(0, 16)}.suppressed.${iso(at)}`,
    type: 'AddressSuppressed',
    version: 1,
    occurredAt: iso(at),
    data: { addressHash, reason, source, actor: 'recipient' },
  }),
  removed: (addressHash: string, at: Date | string, reason = 'asked to be mailed again'): SuppressionEvent => ({
    id: `evt_${addressHash.slice(0, 16)}.removed.${iso(at)}`,
    type: 'SuppressionRemoved',
    version: 1,
    occurredAt: iso(at),
    data: { addressHash, reason, actor: 'admin@shop.example' },
  }),
};

/** The subject an event is published on. */
export function subjectOf(ns: Namespace, e: PostbusEvent): string {
  const s = subjectsFor(ns);
  if (e.type === 'EmailRequested') return s.request(e.messageId!);
  if (e.type in TRACKING_SUBJECT_TOKEN) return s.tracking(e.accountId!, TRACKING_SUBJECT_TOKEN[e.type as TrackingEvent['type']]);
  if (e.type === 'AddressSuppressed' || e.type === 'SuppressionRemoved') return s.suppression(suppressionShard(e.data.addressHash));
  if (e.type in MAIL_SUBJECT_TOKEN) return s.mail(e.accountId ?? UNASSIGNED, MAIL_SUBJECT_TOKEN[e.type as MailEvent['type']]);
  if (e.type === 'EmailsSent') return s.mail(e.accountId!, MAIL_BATCH_SUBJECT_TOKEN[e.type]);
  return s.account(e.accountId!);
}

/** The sends of one account as one EmailsSent (each keeps its EmailSent's id, time and data). */
export function sentBatch(sends: readonly EmailSent[]): EmailsSent {
  return emailsSent(sends[0]!.accountId!, sends);
}
