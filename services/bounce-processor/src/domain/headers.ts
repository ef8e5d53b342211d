/**
 * The top-level header fields of a raw mail (unfolded; RFC 2047 words left as they are),
 * lower-case names, first occurrence of each. Reads at most the first 64 KiB.
 */
export function topHeaders(raw: Buffer | string): Record<string, string> {
  const text = (typeof raw === 'string' ? raw.slice(0, 65_536) : raw.subarray(0, 65_536).toString('latin1'));
  const end = text.search(/\r?\n\r?\n/);
  const head = end === -1 ? text : text.slice(0, end);
  const out: Record<string, string> = {};
  let name: string | undefined;
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && name !== undefined) {
      out[name] += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) {
      name = undefined;
      continue;
    }
    const n = line.slice(0, colon).trim().toLowerCase();
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(n) || n in out) {
      name = undefined;
      continue;
    }
    name = n;
    out[n] = line.slice(colon + 1).trim();
  }
  return out;
}

/**
 * The text of a mail for judging it when it names no recipient: the body after the top
 * headers, the first 4 KiB, with MIME boundaries and header-like lines left in (the
 * classifier looks for codes and wording, not structure).
 */
export function reportText(raw: Buffer | string): string {
  const text = typeof raw === 'string' ? raw.slice(0, 70_000) : raw.subarray(0, 70_000).toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  return (end === -1 ? '' : text.slice(end)).slice(0, 4096).replace(/\s+/g, ' ').trim();
}
