/**
 * `unsubscribe_list` is the set of addresses whose latest fact is an unsubscribe. The live
 * projector follows TRACKING and SUPPRESSION independently and a rebuild replays one stream
 * after the other, so arrival order means nothing: a row is computed from all the facts of its
 * hash, ordered by (occurredAt, eventId). A removal deletes the row; the history stays in
 * `suppression_events`.
 */
export interface SuppressionFact {
  readonly eventId: string;
  readonly type: 'Unsubscribed' | 'AddressSuppressed' | 'SuppressionRemoved';
  readonly addressHash: string;
  readonly messageId: string | null;
  readonly accountId: string | null;
  readonly campaignId: string | null;
  /** The unsubscribe method, or the suppression's or removal's reason. */
  readonly reason: string;
  readonly source: string | null;
  readonly actor: string | null;
  /** A canonical time (see canonicalTime): fixed width, so strings compare as times. */
  readonly occurredAt: string;
}

export interface UnsubscribeRow {
  readonly addressHash: string;
  readonly messageId: string | null;
  readonly accountId: string | null;
  readonly campaignId: string | null;
  readonly method: string;
  readonly unsubscribedAt: string;
}

const before = (a: SuppressionFact, b: SuppressionFact): number =>
  a.occurredAt < b.occurredAt ? -1 : a.occurredAt > b.occurredAt ? 1 : a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0;

/**
 * The row of one address: the first unsubscribe after its latest removal, or none. An
 * `AddressSuppressed` (bounce, complaint, a person) is no unsubscribe and opens no row.
 */
export function unsubscribeRowOf(facts: readonly SuppressionFact[]): UnsubscribeRow | undefined {
  const sorted = [...facts].sort(before);
  let lastRemoval = -1;
  sorted.forEach((f, i) => {
    if (f.type === 'SuppressionRemoved') lastRemoval = i;
  });
  const first = sorted.slice(lastRemoval + 1).find((f) => f.type === 'Unsubscribed');
  if (!first) return undefined;
  return {
    addressHash: first.addressHash,
    messageId: first.messageId,
    accountId: first.accountId,
    campaignId: first.campaignId,
    method: first.reason,
    unsubscribedAt: first.occurredAt,
  };
}

/** The rows of every hash the facts name; a hash mapped to undefined has no row. */
export function unsubscribeRows(facts: readonly SuppressionFact[]): Map<string, UnsubscribeRow | undefined> {
  const byHash = new Map<string, SuppressionFact[]>();
  for (const f of facts) byHash.set(f.addressHash, [...(byHash.get(f.addressHash) ?? []), f]);
  return new Map([...byHash].map(([hash, fs]) => [hash, unsubscribeRowOf(fs)]));
}
