import { InfrastructureError, decodeEvent, evolveAccount, streamName, type AccountEvent, type AccountState } from '@postbus/contracts';
import type { StreamCursor } from '@postbus/contracts';
import type { Bus } from './connection.js';
import { mapReadError } from './publish.js';
import { openCursor } from './reader.js';

export interface DirectoryLog {
  warn(obj: object, msg: string): void;
}

/**
 * Every account's state, folded from the ACCOUNTS stream and kept live by an ordered
 * consumer. `sync()` waits until what was in the stream when it was called has been folded
 * (read-your-writes for a request that just registered an account).
 */
export class AccountDirectory {
  private readonly states = new Map<string, AccountState>();
  private readonly listeners = new Set<(state: AccountState) => void>();
  private position = 0;
  private waiters: Array<{ seq: number; resolve: () => void }> = [];
  private stopped = false;
  private loop: Promise<void> | undefined;
  private cursor: StreamCursor | undefined;

  private constructor(private readonly bus: Bus, private readonly log: DirectoryLog) {}

  static async start(bus: Bus, log: DirectoryLog): Promise<AccountDirectory> {
    const d = new AccountDirectory(bus, log);
    d.cursor = await openCursor(bus, streamName(bus.ns, 'ACCOUNTS'), 1);
    d.loop = d.follow();
    await d.sync();
    return d;
  }

  get(id: string): AccountState | undefined {
    return this.states.get(id);
  }

  all(): AccountState[] {
    return [...this.states.values()];
  }

  onChange(listener: (state: AccountState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async sync(timeoutMs = 10_000): Promise<void> {
    const info = await this.bus.jsm.streams.info(streamName(this.bus.ns, 'ACCOUNTS')).catch((err: unknown) => {
      throw mapReadError(err);
    });
    const target = info.state.last_seq;
    if (this.position >= target) return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new InfrastructureError('log_unavailable', 'the account directory did not catch up in time')), timeoutMs);
      this.waiters.push({ seq: target, resolve: () => (clearTimeout(t), resolve()) });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.cursor?.close();
    await this.loop;
  }

  private async follow(): Promise<void> {
    while (!this.stopped) {
      let batch;
      try {
        batch = await this.cursor!.next(1_000, 1_000);
      } catch (err) {
        if (this.stopped) return;
        this.log.warn({ err }, 'account directory reader failed; reopening');
        await new Promise((r) => setTimeout(r, 500));
        this.cursor = await openCursor(this.bus, streamName(this.bus.ns, 'ACCOUNTS'), this.position + 1).catch(() => this.cursor);
        continue;
      }
      for (const m of batch) {
        try {
          const event = decodeEvent(m.data) as AccountEvent;
          if (event.accountId) {
            const next = evolveAccount(this.states.get(event.accountId) ?? null, event);
            if (next) {
              this.states.set(event.accountId, next);
              for (const l of this.listeners) l(next);
            }
          }
        } catch (err) {
          this.log.warn({ err, seq: m.seq }, 'skipping an invalid account event');
        }
        this.position = m.seq;
      }
      this.waiters = this.waiters.filter((w) => (w.seq <= this.position ? (w.resolve(), false) : true));
    }
  }
}
