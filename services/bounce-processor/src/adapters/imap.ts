import { ImapFlow } from 'imapflow';

export interface ImapSettings {
  readonly host: string;
  readonly port: number;
  readonly tls: 'none' | 'starttls' | 'implicit';
  readonly user: string;
  readonly password: string;
  readonly folder: string;
  readonly timeoutMs?: number;
  /** Test hook: accept self-signed certificates. */
  readonly rejectUnauthorized?: boolean;
}

export interface MailboxMessage {
  readonly uid: number;
  readonly size: number;
  /** The raw message, cut at `maxBytes` (then `truncated`). */
  readonly source: Buffer;
  readonly truncated: boolean;
}

export interface ReadResult {
  readonly uidValidity: number;
  /** The messages after the cursor, in UID order (at most `limit`). */
  readonly messages: MailboxMessage[];
  /** More are waiting after these. */
  readonly more: boolean;
}

/**
 * One pass over a mailbox folder: the messages after `afterUid` under `uidValidity` (all of
 * them when the folder's UIDVALIDITY changed: its UIDs mean something else now), each read up
 * to `maxBytes`. Read-only: the folder is opened with EXAMINE, nothing is flagged or moved,
 * so the cursor in Postgres is the only state and a crash reads again what was not recorded.
 */
export async function readNewMessages(s: ImapSettings, cursor: { uidValidity: number | null; afterUid: number }, opts: { limit: number; maxBytes: number }): Promise<ReadResult> {
  const client = new ImapFlow({
    host: s.host,
    port: s.port,
    secure: s.tls === 'implicit',
    doSTARTTLS: s.tls === 'starttls',
    auth: { user: s.user, pass: s.password },
    logger: false,
    connectionTimeout: s.timeoutMs ?? 30_000,
    greetingTimeout: s.timeoutMs ?? 30_000,
    socketTimeout: (s.timeoutMs ?? 30_000) * 2,
    ...(s.rejectUnauthorized === false ? { tls: { rejectUnauthorized: false } } : {}),
  });
  // An error event on a dead socket must not crash the process; the awaited calls report it.
  client.on('error', () => undefined);
  await client.connect();
  try {
    const lock = await client.getMailboxLock(s.folder, { readOnly: true });
    try {
      const box = client.mailbox;
      if (!box) throw new Error(`folder ${s.folder} did not open`);
      const uidValidity = Number(box.uidValidity);
      const after = cursor.uidValidity === uidValidity ? cursor.afterUid : 0;
      if (box.exists === 0) return { uidValidity, messages: [], more: false };
      // UIDs and sizes first; the fetch iterator must finish before the next command.
      const listed: Array<{ uid: number; size: number }> = [];
      for await (const m of client.fetch(`${after + 1}:*`, { uid: true, size: true }, { uid: true })) {
        if (m.uid > after) listed.push({ uid: m.uid, size: m.size ?? 0 });
      }
      listed.sort((a, b) => a.uid - b.uid);
      const take = listed.slice(0, opts.limit);
      const messages: MailboxMessage[] = [];
      for (const { uid, size } of take) {
        const m = await client.fetchOne(String(uid), { uid: true, source: { maxLength: opts.maxBytes } }, { uid: true });
        const source = m && m.source ? m.source : Buffer.alloc(0);
        messages.push({ uid, size, source, truncated: size > opts.maxBytes });
      }
      return { uidValidity, messages, more: listed.length > take.length };
    } finally {
      lock.release();
    }
  } finally {
    await client.logout().catch(() => client.close());
  }
}
