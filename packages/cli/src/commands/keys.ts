import { rotateSecrets, secretsByKey, type Database, type RotationSummary } from '@postbus/db';
import { loadKeyring, type KeyringSource } from '@postbus/secrets';
import type { TextOut } from '../progress.js';

export interface RotateKeysOptions {
  readonly db: Database;
  readonly keys: KeyringSource;
  /** The key every secret should end under; it must be in the ring. */
  readonly to: string;
  readonly stdout: TextOut;
  readonly stderr: TextOut;
  readonly batchSize?: number;
}

/**
 * `postbus keys rotate --to <keyId>`: with the new key added to POSTBUS_MASTER_KEYS (every
 * service keeps decrypting with every key in its ring), re-encrypts each secret under it —
 * each row in its own statement with an optimistic check, so services run on, and a second
 * run, or a run after an interruption, only does what is left. Then the old key can leave
 * the ring. Prints progress (stderr) and a summary (stdout); exit code 1 if a secret could
 * not be read with the ring.
 */
export async function rotateKeys(opts: RotateKeysOptions): Promise<RotationSummary> {
  const ring = await loadKeyring({ ...opts.keys, masterKeyId: opts.to });
  const before = await secretsByKey(opts.db);
  opts.stderr.write(`secrets by key before: ${describe(before)}\n`);
  let lastTenth = -1;
  const summary = await rotateSecrets(opts.db, ring, {
    ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
    onProgress: ({ done, total }) => {
      const tenth = total > 0 ? Math.floor((done / total) * 10) : 10;
      if (tenth === lastTenth) return;
      lastTenth = tenth;
      opts.stderr.write(`rotating to ${opts.to}: ${done}/${total}\n`);
    },
  });
  const after = await secretsByKey(opts.db);
  opts.stdout.write(
    `rotated ${summary.rotated} of ${summary.total} secret(s) to ${opts.to}` +
      (summary.skipped ? `, ${summary.skipped} changed meanwhile (left to their writer)` : '') +
      (summary.failed.length ? `, ${summary.failed.length} unreadable` : '') +
      `\nsecrets by key now: ${describe(after)}\n`,
  );
  for (const f of summary.failed) opts.stderr.write(`cannot read secret ${f.id} (key ${f.keyId}): ${f.code}\n`);
  const others = Object.keys(after).filter((k) => k !== opts.to);
  if (others.length === 0) opts.stdout.write(`every secret is under ${opts.to}: keys no longer needed for secrets can be removed from the ring\n`);
  return summary;
}

const describe = (counts: Record<string, number>) => Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
