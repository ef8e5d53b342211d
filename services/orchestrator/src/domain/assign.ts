import type { MessageKind } from '@postbus/contracts';

export interface Candidate {
  readonly accountId: string;
  /** Messages it may still be given: limit − max(sent today, sent in 24 h) − open. */
  readonly credit: number;
  readonly hasPostalAddress: boolean;
}

export interface Wanted {
  readonly messageId: string;
  readonly kind: MessageKind;
  readonly pinnedAccountId: string | null;
}

/**
 * Gives each message to the account with the most credit left (so accounts fill evenly),
 * honouring a pinned account and the rule that bulk mail needs a postal address. A message
 * no account can take gets null: its row waits, visibly, until room appears.
 * Pure: the caller supplies credits read in the same transaction that writes the rows.
 */
export function assign(messages: readonly Wanted[], candidates: readonly Candidate[]): Map<string, string | null> {
  const credit = new Map(candidates.map((c) => [c.accountId, c.credit]));
  const postal = new Map(candidates.map((c) => [c.accountId, c.hasPostalAddress]));
  const out = new Map<string, string | null>();
  for (const m of messages) {
    const eligible = (id: string) => (credit.get(id) ?? 0) > 0 && (m.kind === 'transactional' || postal.get(id) === true);
    let chosen: string | null = null;
    if (m.pinnedAccountId) {
      if (eligible(m.pinnedAccountId)) chosen = m.pinnedAccountId;
    } else {
      let best = 0;
      for (const [id, c] of credit) {
        if (c > best && eligible(id)) {
          best = c;
          chosen = id;
        }
      }
    }
    if (chosen) credit.set(chosen, credit.get(chosen)! - 1);
    out.set(m.messageId, chosen);
  }
  return out;
}
