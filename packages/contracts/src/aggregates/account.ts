import { PostbusError } from '../errors.js';
import type { AccountEvent, AccountPaused, AccountStatus, GmailSettings, SendingSettings, SmtpSettings, StoppedStatus, SuspensionReason } from '../events/account.js';

/**
 * The account aggregate: a pure decider over the events of one subject, `acct.<id>`:
 * registration, settings, credentials and the lifecycle (active, the pauses, suspended).
 */
export type AccountState = AccountCommon & AccountCredentials;

/** How the account sends: an SMTP server, or the Gmail API as `gmail.user`. */
export type AccountCredentials =
  | { readonly provider: 'smtp'; readonly smtp: SmtpSettings }
  | { readonly provider: 'gmail'; readonly gmail: GmailSettings };

export interface AccountCommon {
  readonly id: string;
  readonly version: number; // events folded; the stream's last subject sequence is tracked by the bus
  readonly name: string;
  readonly fromAddress: string;
  readonly settings: SendingSettings;
  readonly status: AccountStatus;
  /** Why it is in its status, who put it there and since when (registration for a new account). */
  readonly statusReason: string;
  readonly statusActor: string;
  readonly statusSince: string;
  /** `paused_provider_limit`: when the provider allows sending again. */
  readonly pausedUntil: string | null;
  readonly registeredAt: string;
  readonly updatedAt: string;
}

export type AccountCommand =
  | ({
      readonly type: 'RegisterAccount';
      readonly accountId: string;
      readonly name: string;
      readonly fromAddress: string;
      readonly settings: SendingSettings;
      readonly actor: string;
    } & ({ readonly smtp: SmtpSettings } | { readonly gmail: GmailSettings }))
  | {
      readonly type: 'ChangeAccountSettings';
      readonly accountId: string;
      readonly changes: Partial<SendingSettings>;
      readonly actor: string;
    }
  | {
      readonly type: 'PauseAccount';
      readonly accountId: string;
      readonly status: PausedStatus;
      readonly reason: string;
      readonly actor: string;
      readonly until?: string;
    }
  | {
      readonly type: 'SuspendAccount';
      readonly accountId: string;
      readonly reason: SuspensionReason;
      readonly detail?: string;
      readonly actor: string;
    }
  | {
      readonly type: 'ResumeAccount';
      readonly accountId: string;
      readonly reason: string;
      readonly actor: string;
      /**
       * An automatic resume names the states it may end (e.g. `paused_limit_reached`), so it
       * never undoes a person's pause that happened meanwhile. A person's resume omits it.
       */
      readonly onlyFrom?: readonly StoppedStatus[];
    };

export type PausedStatus = AccountPaused['data']['status'];

/**
 * How strongly a state stops an account. An automatic pause never replaces a stronger one
 * (a limit pause does not undo a person's pause; nothing but a person undoes a suspension).
 */
const STRENGTH: Record<AccountStatus, number> = {
  active: 0,
  paused_limit_reached: 1,
  paused_provider_limit: 2,
  paused_worker_failing: 3,
  paused_bounce_rate: 4,
  paused_complaint_rate: 4,
  paused: 5,
  suspended: 6,
};

/** States a stopped account's queued mail may not leave: its provider or its recipients stopped it. */
export const MOVE_REFUSED: readonly AccountStatus[] = ['paused_bounce_rate', 'paused_complaint_rate', 'paused_provider_limit'];

export function initialAccountState(): AccountState | null {
  return null;
}

export function evolveAccount(state: AccountState | null, event: AccountEvent): AccountState | null {
  switch (event.type) {
    case 'AccountRegistered':
      return {
        id: event.accountId ?? '',
        version: 1,
        name: event.data.name,
        ...credentialsOf(event.data),
        fromAddress: event.data.fromAddress,
        settings: event.data.settings,
        status: 'active',
        statusReason: 'registered',
        statusActor: event.data.actor,
        statusSince: event.occurredAt,
        pausedUntil: null,
        registeredAt: event.occurredAt,
        updatedAt: event.occurredAt,
      };
    case 'AccountSettingsChanged':
      if (!state) return state;
      return { ...state, version: state.version + 1, settings: { ...state.settings, ...stripUndefined(event.data.changes) }, updatedAt: event.occurredAt };
    case 'AccountCredentialsChanged':
      if (!state) return state;
      return { ...state, ...credentialsOf(event.data), version: state.version + 1, updatedAt: event.occurredAt };
    case 'AccountPaused':
      if (!state) return state;
      return {
        ...state,
        version: state.version + 1,
        status: event.data.status,
        statusReason: event.data.reason,
        statusActor: event.data.actor,
        statusSince: event.occurredAt,
        pausedUntil: event.data.until ?? null,
        updatedAt: event.occurredAt,
      };
    case 'AccountSuspended':
      if (!state) return state;
      return {
        ...state,
        version: state.version + 1,
        status: 'suspended',
        statusReason: event.data.detail ? `${event.data.reason}: ${event.data.detail}` : event.data.reason,
        statusActor: event.data.actor,
        statusSince: event.occurredAt,
        pausedUntil: null,
        updatedAt: event.occurredAt,
      };
    case 'AccountResumed':
      if (!state) return state;
      return {
        ...state,
        version: state.version + 1,
        status: 'active',
        statusReason: event.data.reason,
        statusActor: event.data.actor,
        statusSince: event.occurredAt,
        pausedUntil: null,
        updatedAt: event.occurredAt,
      };
    default: {
      const never: never = event;
      return never;
    }
  }
}

function credentialsOf(data: { smtp: SmtpSettings } | { gmail: GmailSettings }): AccountCredentials {
  return 'gmail' in data ? { provider: 'gmail', gmail: data.gmail } : { provider: 'smtp', smtp: data.smtp };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Ids and time arrive as arguments: the decider has no I/O. */
export interface DecideContext {
  readonly eventId: string;
  readonly now: string;
}

export function decideAccount(command: AccountCommand, state: AccountState | null, ctx: DecideContext): AccountEvent[] {
  switch (command.type) {
    case 'RegisterAccount':
      if (state) throw new PostbusError('account_exists', 'account already registered', { status: 409 });
      return [
        {
          id: ctx.eventId,
          type: 'AccountRegistered',
          version: 1,
          occurredAt: ctx.now,
          accountId: command.accountId,
          data: {
            name: command.name,
            fromAddress: command.fromAddress,
            settings: command.settings,
            actor: command.actor,
            ...('gmail' in command ? { provider: 'gmail' as const, gmail: command.gmail } : { provider: 'smtp' as const, smtp: command.smtp }),
          },
        },
      ];
    case 'ChangeAccountSettings': {
      if (!state) throw notFound();
      const changes = stripUndefined(command.changes);
      const effective = Object.entries(changes).filter(([k, v]) => JSON.stringify(state.settings[k as keyof SendingSettings] ?? null) !== JSON.stringify(v));
      if (effective.length === 0) return [];
      return [
        {
          id: ctx.eventId,
          type: 'AccountSettingsChanged',
          version: 1,
          occurredAt: ctx.now,
          accountId: command.accountId,
          data: { changes: Object.fromEntries(effective), actor: command.actor },
        },
      ];
    }
    case 'PauseAccount': {
      if (!state) throw notFound();
      const sameButLonger = state.status === command.status && command.until !== undefined && (state.pausedUntil ?? '') < command.until;
      if (STRENGTH[command.status] <= STRENGTH[state.status] && !sameButLonger) return [];
      return [
        {
          id: ctx.eventId,
          type: 'AccountPaused',
          version: 1,
          occurredAt: ctx.now,
          accountId: command.accountId,
          data: { status: command.status, reason: command.reason, actor: command.actor, ...(command.until ? { until: command.until } : {}) },
        },
      ];
    }
    case 'SuspendAccount':
      if (!state) throw notFound();
      if (state.status === 'suspended') return [];
      return [
        {
          id: ctx.eventId,
          type: 'AccountSuspended',
          version: 1,
          occurredAt: ctx.now,
          accountId: command.accountId,
          data: { reason: command.reason, ...(command.detail ? { detail: command.detail } : {}), actor: command.actor },
        },
      ];
    case 'ResumeAccount': {
      if (!state) throw notFound();
      if (state.status === 'active') return [];
      if (command.onlyFrom && !command.onlyFrom.includes(state.status)) return [];
      return [
        {
          id: ctx.eventId,
          type: 'AccountResumed',
          version: 1,
          occurredAt: ctx.now,
          accountId: command.accountId,
          data: { from: state.status, reason: command.reason, actor: command.actor },
        },
      ];
    }
    default: {
      const never: never = command;
      return never;
    }
  }
}

const notFound = () => new PostbusError('account_not_found', 'no such account', { status: 404 });

export function foldAccount(events: readonly AccountEvent[]): AccountState | null {
  return events.reduce<AccountState | null>(evolveAccount, initialAccountState());
}
