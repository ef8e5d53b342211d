import type { EnhancedCode } from './types.js';

// At the start of a reply line, after an optional basic code: '550-5.1.1 ', '5.7.1 ', '550 #5.1.0'.
const LEADING = /^\s*(?:[2-5]\d\d[ -])?\s*#?([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]|\.\d)/;
// Anywhere else; the lookarounds keep IP addresses like [10.5.1.1] from matching.
const ANYWHERE = /(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)/;
const REPLY = /^\s*([2-5]\d\d)(?:[ -]|$)/;

/** Finds an RFC 3463 enhanced status code in reply text, preferring one at its start. */
export function parseEnhancedCode(text: string | undefined): EnhancedCode | undefined {
  if (!text) return undefined;
  const m = LEADING.exec(text) ?? ANYWHERE.exec(text);
  if (!m) return undefined;
  return toEnhanced(m[1] as string, m[2] as string, m[3] as string);
}

export function parseReplyCode(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const m = REPLY.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Validates an enhanced code given on its own ('5.1.1'); undefined when malformed. */
export function normaliseEnhancedCode(code: string | undefined): EnhancedCode | undefined {
  if (!code) return undefined;
  const m = /^\s*([245])\.(\d{1,3})\.(\d{1,3})\s*$/.exec(code);
  return m ? toEnhanced(m[1] as string, m[2] as string, m[3] as string) : undefined;
}

function toEnhanced(cls: string, subject: string, detail: string): EnhancedCode {
  const c = Number(cls) as 2 | 4 | 5;
  const s = Number(subject);
  const d = Number(detail);
  return { code: `${c}.${s}.${d}`, class: c, subject: s, detail: d };
}
