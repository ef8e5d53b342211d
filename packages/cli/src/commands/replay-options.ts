import { streamName, subjectsFor, type Namespace, type StreamBase } from '@postbus/contracts';

/** What `postbus replay` reads, resolved against the namespace. */
export interface ReplayPlan {
  /** Base names (MAIL…), in the order they are read. */
  readonly streams: readonly StreamBase[];
  /** Server-side filter per stream (namespaced), when there is one. */
  readonly filterOf: (base: StreamBase) => string | undefined;
  /** Checked after decoding: for streams whose subjects do not carry the account. */
  readonly accountId?: string;
  readonly types?: ReadonlySet<string>;
  readonly since?: Date;
  readonly until?: Date;
  readonly into?: string;
}

export interface ReplayFlags {
  readonly stream?: string;
  readonly subject?: string;
  readonly account?: string;
  readonly type?: string;
  readonly since?: string;
  readonly until?: string;
  readonly into?: string;
}

const ROOTS: Readonly<Record<string, StreamBase>> = {
  acct: 'ACCOUNTS',
  camp: 'CAMPAIGNS',
  sponsor: 'SPONSORS',
  supp: 'SUPPRESSION',
  mail: 'MAIL',
  trk: 'TRACKING',
  req: 'REQUESTS',
  ops: 'OPS',
  dispatch: 'DISPATCH',
};
const BASES = new Set<string>(Object.values(ROOTS));

export class ReplayUsageError extends Error {}

/**
 * Resolves the flags. `projectionStreams` are the base names a projection reads, when `--into`
 * names one: without `--stream` or `--subject` each of them is replayed.
 */
export function planReplay(ns: Namespace, flags: ReplayFlags, now: Date, projectionStreams?: readonly StreamBase[]): ReplayPlan {
  const s = subjectsFor(ns);
  const prefix = ns.prefix ? `${ns.prefix}.` : '';
  const subject = flags.subject;
  if (subject !== undefined && (subject.startsWith('.') || /\s/.test(subject) || subject.length === 0)) throw new ReplayUsageError(`bad subject "${subject}"`);
  let base: StreamBase | undefined;
  if (flags.stream !== undefined) {
    const named = flags.stream.toUpperCase();
    if (!BASES.has(named)) throw new ReplayUsageError(`unknown stream "${flags.stream}" (known: ${[...BASES].join(', ')})`);
    base = named as StreamBase;
  } else if (subject !== undefined) {
    base = ROOTS[subject.split('.')[0]!];
    if (!base) throw new ReplayUsageError(`cannot tell the stream of "${subject}": give --stream`);
  }
  if (base && subject && ROOTS[subject.split('.')[0]!] !== base) throw new ReplayUsageError(`subject "${subject}" is not in stream ${base}`);
  const streams: StreamBase[] = base ? [base] : projectionStreams ? [...projectionStreams] : flags.account ? ['MAIL'] : [];
  if (streams.length === 0) throw new ReplayUsageError('say what to replay: --stream, --subject or --account');
  if (projectionStreams && streams.some((x) => !projectionStreams.includes(x))) {
    throw new ReplayUsageError(`projection ${flags.into} does not read ${streams.join(', ')} (it reads ${projectionStreams.join(', ')})`);
  }
  const account = flags.account;
  if (account !== undefined && !/^[A-Za-z0-9_-]+$/.test(account)) throw new ReplayUsageError(`bad account id "${account}"`);
  const filterOf = (b: StreamBase): string | undefined => {
    if (subject !== undefined) return `${prefix}${subject}`;
    if (account === undefined) return undefined;
    if (b === 'MAIL') return s.mailOfAccount(account);
    if (b === 'TRACKING') return s.tracking(account, '>');
    if (b === 'ACCOUNTS') return s.account(account);
    if (b === 'DISPATCH') return s.dispatch(account);
    return undefined;
  };
  const since = flags.since !== undefined ? parseTime(flags.since, now, '--since') : undefined;
  const until = flags.until !== undefined ? parseTime(flags.until, now, '--until') : undefined;
  if (since && until && until < since) throw new ReplayUsageError('--until is before --since');
  const types = flags.type ? new Set(flags.type.split(',').map((t) => t.trim()).filter(Boolean)) : undefined;
  return {
    streams: streams.map((b) => b),
    filterOf,
    ...(account !== undefined ? { accountId: account } : {}),
    ...(types?.size ? { types } : {}),
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
    ...(flags.into !== undefined ? { into: flags.into } : {}),
  };
}

/** An ISO 8601 time, or a duration back from now: `90s`, `30m`, `6h`, `7d`. */
export function parseTime(text: string, now: Date, flag: string): Date {
  const rel = /^(\d+)(s|m|h|d)$/.exec(text);
  if (rel) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now.getTime() - Number(rel[1]) * unit);
  }
  const t = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(t)) throw new ReplayUsageError(`${flag} takes an ISO time (2025-06-01T10:00:00Z) or a duration back from now (30m, 6h, 7d), not "${text}"`);
  return new Date(t);
}

export function streamOf(ns: Namespace, base: StreamBase): string {
  return streamName(ns, base);
}

/** The base name of a namespaced stream name (`T1A2_MAIL` → `MAIL`). */
export function baseOf(ns: Namespace, name: string): StreamBase {
  const base = ns.prefix ? name.slice(ns.prefix.length + 1) : name;
  if (!BASES.has(base)) throw new Error(`stream ${name} is not a Postbus stream`);
  return base as StreamBase;
}
