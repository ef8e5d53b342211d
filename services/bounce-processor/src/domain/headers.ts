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
