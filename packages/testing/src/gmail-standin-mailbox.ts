/** A message in a stand-in mailbox. */
export interface GmailStoredMessage {
  readonly id: string;
  readonly threadId: string;
  readonly labelIds: readonly string[];
  /** The RFC 822 bytes, exactly as decoded from `raw` (or delivered). */
  readonly raw: Buffer;
  /** The Message-ID header as written, angle brackets included. */
  readonly messageId: string | undefined;
  /** The From address (lower case). */
  readonly from: string | undefined;
  /** Gmail's internalDate (ms since epoch), from the stand-in's clock. */
  readonly internalDate: number;
  readonly historyId: number;
}

export interface HistoryRecord {
  readonly id: number;
  readonly message: GmailStoredMessage;
}

/** Headers of a raw message: up to the first empty line, folded lines joined, names lower-cased. */
export function parseHeaders(raw: Buffer): { name: string; value: string }[] {
  const text = raw.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const block = (end < 0 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const out: { name: string; value: string }[] = [];
  for (const line of block.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) out.push({ name: line.slice(0, i).trim(), value: line.slice(i + 1).trim() });
  }
  return out;
}

export function header(headers: readonly { name: string; value: string }[], name: string): string | undefined {
  return headers.find((h) => h.name.toLowerCase() === name)?.value;
}

/** The address in `Name <addr>` or a bare `addr`. */
export function addressOf(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const m = /<([^>]*)>/.exec(value);
  const addr = (m ? m[1]! : value).trim().toLowerCase();
  return addr || undefined;
}

/** Gmail's relative times: `7d`, `2m` (months), `1y`; hours as `h`. */
function relativeMs(value: string): number | undefined {
  const m = /^(\d+)([dhmy])$/i.exec(value);
  if (!m) return undefined;
  const unit = { d: 86_400_000, h: 3_600_000, m: 30 * 86_400_000, y: 365 * 86_400_000 }[m[2]!.toLowerCase() as 'd' | 'h' | 'm' | 'y'];
  return Number(m[1]) * unit;
}

const bareId = (id: string): string => id.trim().replace(/^<|>$/g, '').toLowerCase();

/** One user's mailbox: messages, the history log, and the sends the quota counts. */
export class Mailbox {
  readonly messages: GmailStoredMessage[] = [];
  private readonly history: HistoryRecord[] = [];
  private readonly sendTimes: number[] = [];
  /** Read calls of the last second, with their quota units. */
  private readonly reads: { at: number; units: number }[] = [];
  historyId = 1000;
  /** History ids at or below this one are gone (history.list from before → 404). */
  private historyFloor = 1000;
  private seq = 0;

  constructor(
    readonly email: string,
    readonly aliases: Set<string>,
    public disabled: boolean,
    public sendsPerMinute: number,
    public sendsPerDay: number,
    /** Gmail's per-user quota for everything but sends: 250 units a second. */
    public readUnitsPerSecond = 250,
    /** History records kept (the oldest are forgotten beyond it): Infinity by default. */
    public historyRetention = Infinity,
  ) {}

  store(raw: Buffer, labelIds: string[], now: number, threadId?: string): GmailStoredMessage {
    const headers = parseHeaders(raw);
    this.historyId += 1;
    this.seq += 1;
    // Gmail ids are 16 hex digits that grow with time.
    const id = (BigInt(now) * 4096n + BigInt(this.seq % 4096)).toString(16).padStart(16, '0');
    const known = threadId !== undefined && this.messages.some((m) => m.threadId === threadId);
    const message: GmailStoredMessage = {
      id,
      threadId: known ? threadId : id,
      labelIds,
      raw,
      messageId: header(headers, 'message-id'),
      from: addressOf(header(headers, 'from')),
      internalDate: now,
      historyId: this.historyId,
    };
    this.messages.push(message);
    this.history.push({ id: this.historyId, message });
    while (this.history.length > this.historyRetention) this.historyFloor = this.history.shift()!.id;
    return message;
  }

  /** Counts a read of `units` quota units; when the last second is full, when to retry instead (nothing counted). */
  takeReadUnits(units: number, now: number): number | undefined {
    while (this.reads.length > 0 && this.reads[0]!.at <= now - 1000) this.reads.shift();
    const used = this.reads.reduce((n, r) => n + r.units, 0);
    if (used + units > this.readUnitsPerSecond) return (this.reads[0]?.at ?? now) + 1000;
    this.reads.push({ at: now, units });
    return undefined;
  }

  /** When the user may send again, or undefined when within both quotas (rolling minute and day). */
  quotaBlockedUntil(now: number): { until: number; daily: boolean } | undefined {
    while (this.sendTimes.length > 0 && this.sendTimes[0]! <= now - 86_400_000) this.sendTimes.shift();
    const day = this.sendTimes;
    if (day.length >= this.sendsPerDay) return { until: day[day.length - this.sendsPerDay]! + 86_400_000, daily: true };
    const minute = day.filter((t) => t > now - 60_000);
    if (minute.length >= this.sendsPerMinute) return { until: minute[minute.length - this.sendsPerMinute]! + 60_000, daily: false };
    return undefined;
  }

  countSend(now: number): void {
    this.sendTimes.push(now);
  }

  find(id: string): GmailStoredMessage | undefined {
    return this.messages.find((m) => m.id === id);
  }

  /**
   * A Gmail search over the messages indexed by `indexedBefore` (the search lag). Knows
   * rfc822msgid:, in:, label:, from:, newer_than:, older_than: and plain words; SPAM and TRASH only when asked for (in:, label:, includeSpamTrash).
   */
  search(q: string | undefined, labelIds: readonly string[], indexedBefore: number | undefined, includeSpamTrash = false, now = Date.now()): GmailStoredMessage[] {
    const terms = (q ?? '').match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
    let withSpamTrash = includeSpamTrash;
    const tests: ((m: GmailStoredMessage) => boolean)[] = labelIds.map((l) => (m) => m.labelIds.includes(l.toUpperCase()));
    for (const term of terms) {
      const [op, ...rest] = term.split(':');
      const value = rest.join(':').replace(/^"|"$/g, '');
      switch (rest.length > 0 ? op!.toLowerCase() : '') {
        case 'rfc822msgid':
          tests.push((m) => m.messageId !== undefined && bareId(m.messageId) === bareId(value));
          break;
        case 'in':
        case 'label': {
          const label = value.toUpperCase();
          if (label === 'ANYWHERE') withSpamTrash = true;
          else {
            if (label === 'SPAM' || label === 'TRASH') withSpamTrash = true;
            tests.push((m) => m.labelIds.includes(label));
          }
          break;
        }
        case 'from':
          tests.push((m) => (m.from ?? '').includes(value.toLowerCase()));
          break;
        case 'newer_than':
        case 'older_than': {
          const ms = relativeMs(value);
          if (ms === undefined) {
            tests.push(() => false);
            break;
          }
          const since = now - ms;
          tests.push(op!.toLowerCase() === 'newer_than' ? (m) => m.internalDate > since : (m) => m.internalDate <= since);
          break;
        }
        default: {
          const word = term.replace(/^"|"$/g, '').toLowerCase();
          tests.push((m) => m.raw.toString('latin1').toLowerCase().includes(word));
        }
      }
    }
    return this.messages
      .filter((m) => indexedBefore === undefined || m.internalDate <= indexedBefore)
      .filter((m) => withSpamTrash || !m.labelIds.some((l) => l === 'SPAM' || l === 'TRASH'))
      .filter((m) => tests.every((t) => t(m)))
      .reverse(); // newest first, as Gmail lists
  }

  /** History after `start`, or 'expired' when `start` is older than what is kept. */
  historySince(start: number, labelId: string | undefined): HistoryRecord[] | 'expired' {
    if (start < this.historyFloor) return 'expired';
    return this.history.filter((h) => h.id > start && (labelId === undefined || h.message.labelIds.includes(labelId.toUpperCase())));
  }

  /** Forgets all history so far: an older startHistoryId now gets 404. */
  expireHistory(): void {
    this.history.length = 0;
    this.historyFloor = this.historyId;
  }
}
