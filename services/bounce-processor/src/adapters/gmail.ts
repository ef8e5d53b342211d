import type { AccountState } from '@postbus/contracts';
import { getSecret, type Database, type SecretCipher } from '@postbus/db';
import { GmailTransport, parseServiceAccountKey, type GmailSession } from '@postbus/transports';

/** What the Gmail poller reads a mailbox with (a GmailSession; a fake in tests). */
export type GmailMailbox = Pick<GmailSession, 'currentHistoryId' | 'listHistory' | 'listMessages' | 'getRaw'>;

export interface GmailMailboxesOptions {
  /** googleapis' rootUrl. Default Google's. */
  readonly apiUrl?: string;
  /** Token endpoints a stored key may name besides Google's (tests: the stand-in's). */
  readonly trustedTokenUris?: readonly string[];
  /** Read calls a second per user. Default 40 (Gmail: 250 quota units a second, a messages.get is 5). */
  readonly readsPerSecond?: number;
  /** Per request, token exchange included. Default 30 s. */
  readonly timeoutMs?: number;
}

/**
 * One Gmail session per account, as the sender keeps them: built from the account's
 * service-account key (read and decrypted only then), rebuilt when its user or key changes.
 */
export class GmailMailboxes {
  private readonly sessions = new Map<string, { key: string; session: GmailSession }>();
  private readonly transport: GmailTransport;

  constructor(
    private readonly db: Database,
    private readonly cipher: SecretCipher,
    private readonly opts: GmailMailboxesOptions = {},
  ) {
    this.transport = new GmailTransport({
      ...(opts.apiUrl ? { rootUrl: opts.apiUrl } : {}),
      readsPerSecond: opts.readsPerSecond ?? 40,
      timeoutMs: opts.timeoutMs ?? 30_000,
    });
  }

  /** The account's mailbox; throws GmailConfigError when its stored key is no longer accepted. */
  async of(account: AccountState): Promise<GmailMailbox> {
    if (account.provider !== 'gmail') throw new Error(`account ${account.id} is not a Gmail account`);
    const key = `${account.gmail.user}\n${account.gmail.secretId}`;
    const known = this.sessions.get(account.id);
    if (known?.key === key) return known.session;
    known?.session.close();
    this.sessions.delete(account.id);
    const json = await getSecret(this.db, this.cipher, account.gmail.secretId);
    const session = this.transport.session({ user: account.gmail.user, serviceAccount: parseServiceAccountKey(json, this.opts.trustedTokenUris ?? []) });
    this.sessions.set(account.id, { key, session });
    return session;
  }

  /** Drops the sessions of accounts not in `keep` (removed, or no longer Gmail). */
  retain(keep: ReadonlySet<string>): void {
    for (const [id, s] of this.sessions) {
      if (!keep.has(id)) {
        s.session.close();
        this.sessions.delete(id);
      }
    }
  }
}
