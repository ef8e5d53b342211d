import { leadPayloadsByKey, rotateLeadPayloads, rotateSecrets, secretsByKey, type Database, type RotationProgress, type RotationSummary } from '@postbus/db';
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

export interface KeyRotationSummary {
  /** The `secrets` table: SMTP passwords, Gmail and DKIM keys, TOTP and sponsor signing secrets. */
  readonly secrets: RotationSummary;
  /** Leads the sponsor gateway holds encrypted until their sponsor has them (pending, or failed and kept for a retry). */
  readonly leads: RotationSummary;
  /** Everything the ring could not read, of both. */
  readonly failed: RotationSummary['failed'];
}

/**
 * `postbus keys rotate --to <keyId>`: with the new key added to POSTBUS_MASTER_KEYS (every
 * service keeps decrypting with every key in its ring), re-encrypts each secret, then each
 * stored lead, under it — each row in its own statement with an optimistic check, so services
 * run on, and a second run, or a run after an interruption, only does what is left. Then the
 * old key can leave the ring. Prints progress (stderr) and a summary (stdout); exit code 1 if
 * a secret or lead could not be read with the ring.
 */
export async function rotateKeys(opts: RotateKeysOptions): Promise<KeyRotationSummary> {
  const ring = await loadKeyring({ ...opts.keys, masterKeyId: opts.to });
  const batch = opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {};
  const progress = (what: string) => {
    let lastTenth = -1;
    return ({ done, total }: RotationProgress) => {
      const tenth = total > 0 ? Math.floor((done / total) * 10) : 10;
      if (tenth === lastTenth) return;
      lastTenth = tenth;
      opts.stderr.write(`rotating ${what} to ${opts.to}: ${done}/${total}\n`);
    };
  };

  opts.stderr.write(`secrets by key before: ${describe(await secretsByKey(opts.db))}\n`);
  opts.stderr.write(`stored leads by key before: ${describe(await leadPayloadsByKey(opts.db))}\n`);
  const secrets = await rotateSecrets(opts.db, ring, { ...batch, onProgress: progress('secrets') });
  const leads = await rotateLeadPayloads(opts.db, ring, { ...batch, onProgress: progress('stored leads') });
  const after = { secrets: await secretsByKey(opts.db), leads: await leadPayloadsByKey(opts.db) };

  opts.stdout.write(
    `rotated ${secrets.rotated} of ${secrets.total} secret(s) to ${opts.to}${extra(secrets)}\n` +
      `rotated ${leads.rotated} of ${leads.total} stored lead(s) to ${opts.to}${extra(leads)}\n` +
      `secrets by key now: ${describe(after.secrets)}\nstored leads by key now: ${describe(after.leads)}\n`,
  );
  for (const f of secrets.failed) opts.stderr.write(`cannot read secret ${f.id} (key ${f.keyId}): ${f.code}\n`);
  for (const f of leads.failed) opts.stderr.write(`cannot read stored lead ${f.id} (key ${f.keyId}): ${f.code}\n`);
  const others = [...Object.keys(after.secrets), ...Object.keys(after.leads)].filter((k) => k !== opts.to);
  if (others.length === 0) opts.stdout.write(`every secret and stored lead is under ${opts.to}: keys no longer needed for them can be removed from the ring\n`);
  return { secrets, leads, failed: [...secrets.failed, ...leads.failed] };
}

const extra = (s: RotationSummary) =>
  (s.skipped ? `, ${s.skipped} changed meanwhile (left to their writer)` : '') + (s.failed.length ? `, ${s.failed.length} unreadable` : '');

const describe = (counts: Record<string, number>) => Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
