import type { AccountState, NodeLease } from '@postbus/contracts';

export interface CurrentPlacement {
  readonly accountId: string;
  readonly nodeId: string | null;
}

export interface PlacementDecision {
  readonly accountId: string;
  readonly nodeId: string | null;
  readonly previousNodeId: string | null;
  readonly reason: string;
  /** The previous owner's lease is gone: it cannot release, only be waited out. */
  readonly prevNodeDead: boolean;
}

/**
 * Where each account should be worked. Active accounts stay where they are while their node
 * lives (moving a working account costs a handover); an active account without a live node
 * goes to the live node with the most room left (capacity − accounts placed there), so nodes
 * fill evenly; a stopped account is worked nowhere. Pure: the leader supplies the facts.
 */
export function planPlacements(
  accounts: readonly AccountState[],
  current: ReadonlyMap<string, CurrentPlacement>,
  nodes: readonly NodeLease[],
): PlacementDecision[] {
  const live = new Map(nodes.map((n) => [n.nodeId, n]));
  const load = new Map(nodes.map((n) => [n.nodeId, 0]));
  for (const c of current.values()) if (c.nodeId && load.has(c.nodeId)) load.set(c.nodeId, load.get(c.nodeId)! + 1);
  const out: PlacementDecision[] = [];
  // Oldest accounts first: a stable order, so a shortage of capacity always hits the same ones.
  const ordered = [...accounts].sort((a, b) => a.registeredAt.localeCompare(b.registeredAt) || a.id.localeCompare(b.id));
  for (const a of ordered) {
    const cur = current.get(a.id)?.nodeId ?? null;
    const curLive = cur !== null && live.has(cur);
    if (a.status !== 'active') {
      if (cur !== null) {
        out.push({ accountId: a.id, nodeId: null, previousNodeId: cur, reason: `account ${a.status}`, prevNodeDead: !curLive });
        if (curLive) load.set(cur, load.get(cur)! - 1);
      }
      continue;
    }
    if (curLive) continue;
    let best: string | null = null;
    let bestRoom = 0;
    for (const [id, n] of live) {
      const room = n.capacity - load.get(id)!;
      if (room <= 0) continue;
      if (best === null || room > bestRoom || (room === bestRoom && id < best)) {
        best = id;
        bestRoom = room;
      }
    }
    if (best === null) {
      // No live node has room: leave it; the dead node's epoch stays fenced until one does.
      continue;
    }
    load.set(best, load.get(best)! + 1);
    out.push({
      accountId: a.id,
      nodeId: best,
      previousNodeId: cur,
      reason: cur === null ? (current.has(a.id) ? 'resumed' : 'new account') : `node ${cur} lost its lease`,
      prevNodeDead: cur !== null,
    });
  }
  return out;
}
