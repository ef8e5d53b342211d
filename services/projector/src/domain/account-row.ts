import { evolveAccount, type AccountEvent, type AccountState, type SmtpSettings } from '@postbus/contracts';
import { canonicalTime } from './time.js';

/**
 * One `sender_accounts` row: the account aggregate as evolveAccount folds it, without any
 * secret and without the secret's id (invariant 8: a read table has no use for either).
 */
export interface AccountRow {
  readonly accountId: string;
  readonly name: string;
  readonly provider: string;
  readonly fromAddress: string;
  readonly fromName: string | null;
  readonly smtpHost: string;
  readonly smtpPort: number;
  readonly smtpTls: string;
  readonly smtpUser: string;
  readonly dailyLimit: number;
  readonly batchSize: number;
  readonly sendDelayMs: number;
  readonly postalAddress: string | null;
  readonly status: string;
  readonly statusReason: string;
  readonly statusActor: string;
  readonly statusSince: string;
  readonly pausedUntil: string | null;
  /** The warm-up as JSON text, or null. */
  readonly warmup: string | null;
  readonly registeredAt: string;
  readonly updatedAt: string;
  readonly version: number;
}

export type AccountFact = AccountEvent & { readonly accountId: string };

/** The decider's own evolve, so the table can never disagree with the aggregate. */
export function evolveAccountRow(row: AccountRow | null, event: AccountFact): AccountRow | null {
  const next = evolveAccount(row ? stateOf(row) : null, { ...event, occurredAt: canonicalTime(event.occurredAt) });
  return next ? rowOf(next) : null;
}

/** Folds events in order into the rows given; returns every row that exists after its events. */
export function foldAccountRows(rows: ReadonlyMap<string, AccountRow>, events: readonly AccountFact[]): Map<string, AccountRow> {
  const work = new Map<string, AccountRow | null>();
  for (const e of events) work.set(e.accountId, evolveAccountRow(work.has(e.accountId) ? work.get(e.accountId)! : rows.get(e.accountId) ?? null, e));
  return new Map([...work].filter((entry): entry is [string, AccountRow] => entry[1] !== null));
}

function rowOf(s: AccountState): AccountRow {
  return {
    accountId: s.id,
    name: s.name,
    provider: s.provider,
    fromAddress: s.fromAddress,
    fromName: s.settings.fromName,
    // A Gmail account has no SMTP server: its row names the user it sends as, and no host.
    smtpHost: s.provider === 'smtp' ? s.smtp.host : '',
    smtpPort: s.provider === 'smtp' ? s.smtp.port : 0,
    smtpTls: s.provider === 'smtp' ? s.smtp.tls : '',
    smtpUser: s.provider === 'smtp' ? s.smtp.user : s.gmail.user,
    dailyLimit: s.settings.dailyLimit,
    batchSize: s.settings.batchSize,
    sendDelayMs: s.settings.sendDelayMs,
    postalAddress: s.settings.postalAddress,
    status: s.status,
    statusReason: s.statusReason,
    statusActor: s.statusActor,
    statusSince: s.statusSince,
    pausedUntil: s.pausedUntil,
    warmup: s.settings.warmup ? JSON.stringify(s.settings.warmup) : null,
    registeredAt: s.registeredAt,
    updatedAt: s.updatedAt,
    version: s.version,
  };
}

function stateOf(r: AccountRow): AccountState {
  return {
    id: r.accountId,
    version: r.version,
    name: r.name,
    fromAddress: r.fromAddress,
    // The secret id is not kept: evolveAccount only carries it along, and rowOf drops it.
    ...(r.provider === 'gmail'
      ? { provider: 'gmail' as const, gmail: { user: r.smtpUser, secretId: '' } }
      : { provider: 'smtp' as const, smtp: { host: r.smtpHost, port: r.smtpPort, tls: r.smtpTls as SmtpSettings['tls'], user: r.smtpUser, secretId: '' } }),
    settings: {
      dailyLimit: r.dailyLimit,
      batchSize: r.batchSize,
      sendDelayMs: r.sendDelayMs,
      postalAddress: r.postalAddress,
      fromName: r.fromName,
      ...(r.warmup ? { warmup: JSON.parse(r.warmup) as NonNullable<AccountState['settings']['warmup']> } : {}),
    },
    status: r.status as AccountState['status'],
    statusReason: r.statusReason,
    statusActor: r.statusActor,
    statusSince: r.statusSince,
    pausedUntil: r.pausedUntil,
    registeredAt: r.registeredAt,
    updatedAt: r.updatedAt,
  };
}
