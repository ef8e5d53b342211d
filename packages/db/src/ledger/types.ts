import type { MessageContent, MessageKind } from '@postbus/contracts';

export type DeliveryState =
  | 'waiting'
  | 'assigned'
  | 'claimed'
  | 'sending'
  | 'retry_wait'
  | 'sent'
  | 'failed'
  | 'suppressed'
  | 'uncertain'
  | 'expired'
  | 'cancelled';

export const FINAL_STATES: ReadonlySet<DeliveryState> = new Set(['sent', 'failed', 'suppressed', 'uncertain', 'expired', 'cancelled']);

export interface NewDelivery {
  readonly messageId: string;
  readonly kind: MessageKind;
  readonly pinnedAccountId: string | null;
  readonly campaignId: string | null;
  readonly recipient: string;
  readonly content: MessageContent;
  readonly requestedAt: Date;
  readonly requestedBy: string;
  readonly expiresAt: Date;
  /** Null: the row waits for room. */
  readonly accountId: string | null;
}

export interface Assignment {
  readonly messageId: string;
  readonly accountId: string;
  readonly assignment: number;
  readonly attempt: number;
  readonly kind: MessageKind;
  readonly recipient: string;
  readonly subject: string;
  readonly campaignId: string | null;
  readonly requestedAt: Date;
}

/** One account's room: how many more messages may be given to it now. */
export interface AccountUsage {
  readonly accountId: string;
  readonly sentToday: number;
  readonly sentRolling24h: number;
  /** assigned, claimed, sending or waiting for a retry: they will need a slot. */
  readonly open: number;
  /** claimed or sending: reserved now. */
  readonly inFlight: number;
}

/** Messages the dispatcher may still give the account: what it may send, less what it already holds. */
export function creditOf(u: AccountUsage, dailyLimit: number): number {
  return Math.max(0, dailyLimit - Math.max(u.sentToday, u.sentRolling24h) - u.open);
}

/** Messages the account's worker may start now: what it may send, less what is in flight (ledger_claim's room, migrations/0015). */
export function roomOf(u: Pick<AccountUsage, 'sentToday' | 'sentRolling24h' | 'inFlight'>, dailyLimit: number): number {
  return dailyLimit - Math.max(u.sentToday, u.sentRolling24h) - u.inFlight;
}

export interface ClaimedMessage {
  readonly messageId: string;
  readonly assignment: number;
  readonly attempt: number;
  readonly kind: MessageKind;
  readonly campaignId: string | null;
  readonly recipient: string;
  readonly content: MessageContent;
  readonly sendFailures: number;
}
