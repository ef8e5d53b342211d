import { readFileSync } from 'node:fs';
import type { MessageStatus } from './api.js';
import type { Catcher } from './catcher.js';
import { SERVICES } from './services.js';
import type { DemoPaths } from './workspace.js';

export interface Summary {
  readonly ids: readonly string[];
  readonly states: ReadonlyMap<string, MessageStatus>;
  readonly catcher: Catcher;
  readonly adminUrl: string;
  readonly adminUser: string;
  readonly adminPassword: string;
  readonly token: string;
  readonly paths: DemoPaths;
  /** A path as the user should see it (relative to the working directory when inside the repository). */
  readonly show: (path: string) => string;
}

/** Everything the user needs to look further: URLs, credentials, ready-to-paste curls, the caught mail, the logs. */
export function printSummary(out: (line?: string) => void, s: Summary): void {
  const { ids, states, catcher, adminUrl, token, paths, show } = s;
  const first = catcher.files[0];
  const headers = first ? readFileSync(first, 'utf8').split(/\r?\n\r?\n/)[0]!.split(/\r?\n/) : [];
  const login = JSON.stringify({ username: s.adminUser, password: s.adminPassword });
  out();
  out(`Postbus demo: ${ids.length} messages went through the whole platform.`);
  out();
  out(`  Admin API     ${adminUrl}`);
  out(`  OpenAPI       ${adminUrl}/docs  (JSON: ${adminUrl}/docs/json)`);
  out(`  Admin login   ${s.adminUser} / ${s.adminPassword}  (in ${show(paths.envFile)})`);
  out();
  out('  Access token (valid 15 minutes):');
  out(`    ${token}`);
  out();
  out('  A message and its timeline:');
  out(`    curl -s ${adminUrl}/v1/messages/${ids[0]} -H 'authorization: Bearer ${token}'`);
  out('  A new token:');
  out(`    curl -s ${adminUrl}/v1/auth/login -H 'content-type: application/json' -d '${login}'`);
  out();
  out('  Messages:');
  for (const id of ids) {
    const m = states.get(id)!;
    out(`    ${id}  ${m.state.padEnd(5)}  ${m.to.padEnd(22)}  ${m.subject}`);
  }
  out();
  out(`  Mail caught at ${catcher.host}:${catcher.port} (${catcher.files.length} files in ${show(paths.mail)}/):`);
  for (const f of catcher.files) out(`    ${show(f)}`);
  if (first) {
    out(`  Headers of ${show(first)}:`);
    for (const h of headers) out(`    | ${h}`);
  }
  out();
  out(`  Logs          ${SERVICES.map((name) => show(`${paths.logs}/${name}.log`)).join(', ')}`);
  out();
}
