/**
 * Text Postgres cannot store: `text` refuses U+0000, and `json`/`jsonb` also refuse a lone
 * UTF-16 surrogate (JSON.stringify writes it as `\ud800`, which Postgres rejects). The admin
 * API keeps requests (the ledger, campaigns, idempotency records) in such columns, so text
 * like this is refused at the edge rather than accepted and then never stored.
 */
// eslint-disable-next-line no-control-regex -- U+0000 is the character looked for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text);
}

/** True if any string in the value — a key or a value, at any depth — is not storable. No recursion: deep bodies cannot overflow the stack. */
export function containsUnstorableText(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (!isStorableText(v)) return true;
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (!isStorableText(k)) return true;
        stack.push(x);
      }
    }
  }
  return false;
}
