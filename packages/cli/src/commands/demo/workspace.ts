import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** The `.demo/` directory: the secrets file, the caught mail and the service logs. */

export const SECRET_KEYS = ['POSTBUS_MASTER_KEYS', 'POSTBUS_JWT_SECRET', 'POSTBUS_ADMIN_PASSWORD'] as const;
export type Secrets = Record<(typeof SECRET_KEYS)[number], string>;

export interface DemoPaths {
  readonly dir: string;
  readonly envFile: string;
  readonly mail: string;
  readonly logs: string;
}

export function demoPaths(dir: string): DemoPaths {
  const d = dir.replace(/\/+$/, '');
  return { dir: d, envFile: `${d}/env`, mail: `${d}/mail`, logs: `${d}/logs` };
}

/** `.demo/env`: made once, then reused, so that the demo database's encrypted secrets stay readable. */
export function loadOrCreateSecrets(envFile: string): { secrets: Secrets; created: boolean } {
  const existing: Record<string, string> = {};
  if (existsSync(envFile)) {
    for (const line of readFileSync(envFile, 'utf8').split('\n')) {
      const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
      if (m) existing[m[1]!] = m[2]!.trim();
    }
  }
  const fresh: Record<(typeof SECRET_KEYS)[number], () => string> = {
    POSTBUS_MASTER_KEYS: () => `demo1:${randomBytes(32).toString('base64')}`,
    POSTBUS_JWT_SECRET: () => randomBytes(32).toString('base64'),
    POSTBUS_ADMIN_PASSWORD: () => randomBytes(12).toString('base64url'),
  };
  const missing = SECRET_KEYS.filter((k) => !existing[k]);
  const secrets = Object.fromEntries(SECRET_KEYS.map((k) => [k, existing[k] || fresh[k]()])) as Secrets;
  if (missing.length > 0) {
    const text = [
      '# Postbus demo: made once by `postbus demo` and reused on every run.',
      '# The SMTP passwords in the demo database are encrypted with this master key: keep the two together.',
      ...SECRET_KEYS.map((k) => `${k}=${secrets[k]}`),
      '',
    ].join('\n');
    writeFileSync(envFile, text, { mode: 0o600 });
  }
  return { secrets, created: missing.includes('POSTBUS_MASTER_KEYS') };
}
