import { publishEvent, readAggregate, type Bus } from '@postbus/bus';
import {
  foldAccount,
  streamName,
  type AccountEvent,
  type AccountState,
  type PostbusEvent,
} from '@postbus/contracts';

export async function readAccount(bus: Bus, accountId: string): Promise<{ state: AccountState | null; lastSeq: number }> {
  const read = await readAggregate<AccountEvent>(bus, streamName(bus.ns, 'ACCOUNTS'), bus.subjects.account(accountId));
  return { state: foldAccount(read.events), lastSeq: read.lastSeq };
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
  if (failed) throw failed.reason;
}
