import { decideAccount, foldAccount, evolveAccount, newId, streamName, isPostbusError, type AccountCommand, type AccountEvent, type AccountState } from '@postbus/contracts';
import type { Bus } from './connection.js';
import { publishEvent } from './publish.js';
import { readAggregate } from './aggregate.js';

export interface CommandResult {
  readonly state: AccountState | null;
  readonly events: AccountEvent[];
}

/**
 * Runs a command against the account aggregate: read its subject, decide, append with
 * `expect.lastSubjectSequence`. A concurrent append makes the server refuse; the command is
 * then decided again against the new state (at most `attempts` times).
 */
export async function executeAccountCommand(bus: Bus, command: AccountCommand, now: Date, attempts = 3): Promise<CommandResult> {
  for (let i = 1; ; i++) {
    const read = await readAggregate<AccountEvent>(bus, streamName(bus.ns, 'ACCOUNTS'), bus.subjects.account(command.accountId));
    const state = foldAccount(read.events);
    const events = decideAccount(command, state, { eventId: newId('evt'), now: now.toISOString() });
    try {
      let expected = read.lastSeq;
      for (const event of events) expected = (await publishEvent(bus, bus.subjects.account(command.accountId), event, { expectLastSubjectSeq: expected })).seq;
      return { state: events.reduce<AccountState | null>(evolveAccount, state), events };
    } catch (err) {
      if (i < attempts && isPostbusError(err) && err.code === 'concurrent_change') continue;
      throw err;
    }
  }
}
