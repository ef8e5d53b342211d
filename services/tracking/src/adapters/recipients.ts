import { addressHash } from '@postbus/contracts';
import { sql, type Database } from '@postbus/db';

/**
 * The SHA-256 of a message's recipient (normalised), from the ledger: what a lead token binds
 * to. Undefined when the message is unknown or the recipient does not parse. Only offer clicks
 * ask, and a slow or absent database only costs the token, never the redirect.
 */
export async function recipientHashOf(db: Database, messageId: string, timeoutMs: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  const read = db
    .query(sql`SELECT recipient FROM deliveries WHERE message_id = ${messageId}`)
    .then(([row]) => {
      try {
        return row ? addressHash(row.recipient as string).toString('hex') : undefined;
      } catch {
        return undefined;
      }
    })
    .catch(() => undefined);
  return Promise.race([read, timeout]).finally(() => clearTimeout(timer));
}
