import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseReport } from '../index.js';

interface Expected {
  readonly file: string;
  readonly kind: string;
  readonly recipients: ReadonlyArray<{ recipient: string; reason: string; severity: string; suppress: boolean }>;
}

const dir = new URL('../../fixtures/reports/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('MANIFEST.json', dir), 'utf8')) as { fixtures: Expected[] };

describe('report fixtures (real DSNs and ARF reports, expectations in MANIFEST.json)', () => {
  it('every .eml has an entry and every entry a file', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.eml')).sort();
    expect(manifest.fixtures.map((f) => f.file).sort()).toEqual(files);
  });

  it('parses every fixture as the manifest says (all mismatches at once)', () => {
    const mismatches: string[] = [];
    for (const want of manifest.fixtures) {
      const got = parseReport(readFileSync(new URL(want.file, dir)));
      if (got.kind !== want.kind) mismatches.push(`${want.file}: kind ${got.kind}, want ${want.kind}`);
      const seen = got.recipients.map((r) => `${r.recipient} ${r.reason} ${r.severity} ${String(r.suppress)}`);
      const wanted = want.recipients.map((r) => `${r.recipient} ${r.reason} ${r.severity} ${String(r.suppress)}`);
      if (JSON.stringify(seen) !== JSON.stringify(wanted)) mismatches.push(`${want.file}: got [${seen.join('; ')}], want [${wanted.join('; ')}]`);
    }
    expect(mismatches).toEqual([]);
  });
});
