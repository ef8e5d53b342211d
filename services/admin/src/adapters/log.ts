import { publishEvent, readAggregate, type AccountDirectory, type Bus } from '@postbus/bus';
import {
  InfrastructureError,
  foldAccount,
  isPostbusError,
  streamName,
  type AccountEvent,
  type AccountState,
  type PostbusEvent,
} from '@postbus/contracts';

/** Errors of the NATS client that are not in our vocabulary mean the log is away. */
function asLogError(err: unknown): unknown {
  return isPostbusError(err) ? err : new InfrastructureError('log_unavailable', 'the event log is unavailable', err);
}

/** Waits until the directory has folded what ACCOUNTS held when called (read-your-writes). */
export async function syncDirectory(directory: AccountDirectory): Promise<void> {
  try {
    await directory.sync();
  } catch (err) {
    throw asLogError(err);
  }
}

export async function readAccount(bus: Bus, accountId: string): Promise<{ state: AccountState | null; lastSeq: number }> {
  try {
    const read = await readAggregate<AccountEvent>(bus, streamName(bus.ns, 'ACCOUNTS'), bus.subjects.account(accountId));
    return { state: foldAccount(read.events), lastSeq: read.lastSeq };
  } catch (err) {
    throw asLogError(err);
  }
}

export interface Publication {
  readonly subject: string;
  readonly event: PostbusEvent;
}

/**
 * Publishes concurrently and waits for every acknowledgement or failure before answering,
 * so a caller never reports (or retries) while a publish of the batch is still in flight.
 * Throws the first failure; events already stored are harmless on retry (same ids).
 */
export async function publishAll(bus: Bus, items: readonly Publication[], timeoutMs?: number): Promise<void> {
  const opts = timeoutMs ? { timeoutMs } : {};
  const results = await Promise.allSettled(items.map((i) => publishEvent(bus, i.subject, i.event, opts)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw asLogError(failed.reason);
}
