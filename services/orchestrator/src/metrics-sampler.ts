import type { AccountDirectory, Bus } from '@postbus/bus';
import { streamSpecs } from '@postbus/contracts';
import { sql, type Database } from '@postbus/db';
import { metrics, type Logger } from '@postbus/telemetry';

export interface SamplerDeps {
  readonly bus: Bus;
  readonly db: Database;
  readonly directory: AccountDirectory;
  readonly log: Logger;
}

/**
 * The leader's periodic look at what no single event tells: open ledger rows per account (queue
 * depth; mail waiting for an account counts as account "none"), each account's status, the
 * JetStream streams' sizes and the account's storage, and the database's size. One query each;
 * run every scrape interval or so, never per message.
 */
export async function sampleMetrics(deps: SamplerDeps): Promise<void> {
  const { bus, db, directory } = deps;
  const rows = await db.query(sql`
    SELECT coalesce(account_id, 'none') AS account, count(*)::int AS n
    FROM deliveries WHERE state IN ('waiting', 'assigned', 'claimed', 'sending', 'retry_wait')
    GROUP BY 1`);
  const depths = new Map<string, number>(directory.all().map((a) => [a.id, 0]));
  for (const r of rows) depths.set(r.account as string, r.n as number);
  metrics.setQueueDepths(depths);
  metrics.setAccountStates(directory.all());

  for (const spec of streamSpecs(bus.ns)) {
    const info = await bus.jsm.streams.info(spec.name).catch(() => undefined);
    if (!info) continue;
    metrics.streamBytes.labels(spec.base).set(info.state.bytes);
    metrics.streamMessages.labels(spec.base).set(info.state.messages);
  }
  const account = await bus.jsm.getAccountInfo().catch(() => undefined);
  if (account) {
    metrics.jetstreamStorage.set(account.storage);
    if (account.limits.max_storage > 0) metrics.jetstreamStorageLimit.set(account.limits.max_storage);
  }
  const [size] = await db.query(sql`SELECT pg_database_size(current_database())::bigint AS bytes`);
  if (size) metrics.postgresBytes.set(Number(size.bytes));
}

/** A standby orchestrator exports no stale samples: the leader that stopped leading clears them. */
export function clearSamples(): void {
  metrics.queueDepth.reset();
  metrics.accountState.reset();
}
