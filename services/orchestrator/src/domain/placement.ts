import type { AccountState, NodeLease } from '@postbus/contracts';

export interface CurrentPlacement {
  readonly accountId: string;
  readonly nodeId: string | null;
  readonly assignedAt: Date;
}

export interface RebalanceOptions {
  /** Accounts moved off a crowded node per pass (each move is a handover: keep it gentle). */
  readonly maxMoves: number;
  /** An account placed more recently than this is not moved again (no ping-pong). */
  readonly minAgeMs: number;
  readonly now: Date;
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
 * goes to the live node with room whose share of its capacity in use is lowest, so nodes
 * fill evenly; a stopped account is worked nowhere. Pure: the leader supplies the facts.
 */
export function planPlacements(
  accounts: readonly AccountState[],
  current: ReadonlyMap<string, CurrentPlacement>,
  nodes: readonly NodeLease[],
  rebalance: RebalanceOptions = { maxMoves: 0, minAgeMs: 0, now: new Date(0) },
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
    let bestShare = Infinity;
    for (const [id, n] of live) {
      if (n.capacity - load.get(id)! <= 0) continue;
      const share = load.get(id)! / n.capacity;
      if (share < bestShare || (share === bestShare && best !== null && id < best)) {
        best = id;
        bestShare = share;
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
  // A node that joined later, or came back, takes accounts from the most crowded node, a
  // few per pass, until loads differ by at most one (relative to capacity).
  const decided = new Set(out.map((d) => d.accountId));
  const share = (id: string) => load.get(id)! / Math.max(1, live.get(id)!.capacity);
  for (let moves = 0; moves < rebalance.maxMoves && live.size > 1; moves++) {
    const ids = [...live.keys()].sort((x, y) => share(x) - share(y) || x.localeCompare(y));
    const light = ids[0]!;
    const heavy = ids[ids.length - 1]!;
    if (load.get(heavy)! - load.get(light)! <= 1 || load.get(light)! >= live.get(light)!.capacity) break;
    const candidate = ordered.find((a) => {
      const c = current.get(a.id);
      return a.status === 'active' && !decided.has(a.id) && c?.nodeId === heavy && rebalance.now.getTime() - c.assignedAt.getTime() >= rebalance.minAgeMs;
    });
    if (!candidate) break;
    decided.add(candidate.id);
    load.set(heavy, load.get(heavy)! - 1);
    load.set(light, load.get(light)! + 1);
    out.push({ accountId: candidate.id, nodeId: light, previousNodeId: heavy, reason: `rebalanced from ${heavy}`, prevNodeDead: false });
  }
  return out;
}
