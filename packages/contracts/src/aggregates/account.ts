import { PostbusError } from '../errors.js';
import type { AccountEvent, SendingSettings, SmtpSettings } from '../events/account.js';

/**
 * The account aggregate: a pure decider over the events of one subject, `acct.<id>`.
 * Lifecycle states (paused, suspended, …) arrive with the orchestrator; registration and
 * settings are here.
 */
export interface AccountState {
  readonly id: string;
  readonly version: number; // events folded; the stream's last subject sequence is tracked by the bus
  readonly name: string;
  readonly provider: 'smtp';
  readonly fromAddress: string;
  readonly smtp: SmtpSettings;
  readonly settings: SendingSettings;
  readonly status: 'active';
  readonly registeredAt: string;
  readonly updatedAt: string;
}

export type AccountCommand =
  | {
      readonly type: 'RegisterAccount';
      readonly accountId: string;
      readonly name: string;
      readonly fromAddress: string;
      readonly smtp: SmtpSettings;
      readonly settings: SendingSettings;
      readonly actor: string;
    }
  | {
      readonly type: 'ChangeAccountSettings';
      readonly accountId: string;
      readonly changes: Partial<SendingSettings>;
      readonly actor: string;
    };

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
        provider: event.data.provider,
        fromAddress: event.data.fromAddress,
        smtp: event.data.smtp,
        settings: event.data.settings,
        status: 'active',
        registeredAt: event.occurredAt,
        updatedAt: event.occurredAt,
      };
    case 'AccountSettingsChanged':
      if (!state) return state;
      return { ...state, version: state.version + 1, settings: { ...state.settings, ...stripUndefined(event.data.changes) }, updatedAt: event.occurredAt };
    case 'AccountCredentialsChanged':
      if (!state) return state;
      return { ...state, version: state.version + 1, smtp: event.data.smtp, updatedAt: event.occurredAt };
    default: {
      const never: never = event;
      return never;
    }
  }
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
            provider: 'smtp',
            fromAddress: command.fromAddress,
            smtp: command.smtp,
            settings: command.settings,
            actor: command.actor,
          },
        },
      ];
    case 'ChangeAccountSettings': {
      if (!state) throw new PostbusError('account_not_found', 'no such account', { status: 404 });
      const changes = stripUndefined(command.changes);
      const effective = Object.entries(changes).filter(([k, v]) => state.settings[k as keyof SendingSettings] !== v);
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
    default: {
      const never: never = command;
      return never;
    }
  }
}

export function foldAccount(events: readonly AccountEvent[]): AccountState | null {
  return events.reduce<AccountState | null>(evolveAccount, initialAccountState());
}
