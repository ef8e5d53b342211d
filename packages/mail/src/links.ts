import { escapeHtml } from './template.js';

/**
 * Link rewriting for click tracking. Not a full HTML parser: a scanner that knows enough of
 * HTML's tokenizer to find the real `href` of every `<a>` tag — quoted either way or not at
 * all, any case, any attribute order, a `>` inside another attribute's quotes — and to skip
 * `<script>` and `<style>` bodies. Comments are scanned like markup on purpose: Outlook's
 * conditional comments (`<!--[if mso]>…<![endif]-->`) hold real links.
 */

/** The replacement for a link, or undefined to leave it as it is. Gets the decoded URL. */
export type LinkRewriter = (url: string) => string | undefined;

export function rewriteHtmlLinks(html: string, rewrite: LinkRewriter): string {
  let out = '';
  let copied = 0;
  let i = 0;
  for (;;) {
    const lt = html.indexOf('<', i);
    if (lt < 0) break;
    if (!isLetter(html.charCodeAt(lt + 1))) {
      i = lt + 1;
      continue;
    }
    let j = lt + 1;
    while (j < html.length && !isTagNameEnd(html.charCodeAt(j))) j++;
    const name = html.slice(lt + 1, j).toLowerCase();
    const tag = scanAttributes(html, j);
    if (name === 'a') {
      // HTML uses the first of duplicated attributes, so only the first href counts.
      const href = tag.attributes.find((a) => a.name === 'href');
      if (href) {
        const raw = html.slice(href.start, href.end);
        const replacement = rewrite(decodeHtmlEntities(raw).trim());
        if (replacement !== undefined) {
          const quoted = href.quoted ? escapeHtml(replacement) : `"${escapeHtml(replacement)}"`;
          out += html.slice(copied, href.start) + quoted;
          copied = href.end;
        }
      }
    }
    i = tag.end;
    if (name === 'script' || name === 'style') {
      // A regex, not toLowerCase(): lower-casing can change the length of non-ASCII text.
      const close = name === 'script' ? SCRIPT_END : STYLE_END;
      close.lastIndex = i;
      i = close.exec(html)?.index ?? html.length;
    }
  }
  return copied === 0 ? html : out + html.slice(copied);
}

const SCRIPT_END = /<\/script/gi;
const STYLE_END = /<\/style/gi;

interface Attribute {
  readonly name: string;
  /** The value's extent in the source, inside its quotes when quoted. */
  readonly start: number;
  readonly end: number;
  readonly quoted: boolean;
}

/** Attributes from just after the tag name to the closing `>` (or the end of the text). */
function scanAttributes(html: string, from: number): { attributes: Attribute[]; end: number } {
  const attributes: Attribute[] = [];
  const n = html.length;
  let i = from;
  while (i < n) {
    while (i < n && (isSpace(html.charCodeAt(i)) || html[i] === '/')) i++;
    if (i >= n) break;
    if (html[i] === '>') return { attributes, end: i + 1 };
    const nameStart = i;
    // The first character may be '=' (HTML keeps it in the name), so it is always consumed.
    i++;
    while (i < n && !isSpace(html.charCodeAt(i)) && html[i] !== '/' && html[i] !== '>' && html[i] !== '=') i++;
    const name = html.slice(nameStart, i).toLowerCase();
    let k = i;
    while (k < n && isSpace(html.charCodeAt(k))) k++;
    if (html[k] !== '=') continue;
    k++;
    while (k < n && isSpace(html.charCodeAt(k))) k++;
    const quote = html[k];
    if (quote === '"' || quote === "'") {
      const close = html.indexOf(quote, k + 1);
      const end = close < 0 ? n : close;
      attributes.push({ name, start: k + 1, end, quoted: true });
      i = end + 1;
    } else {
      let end = k;
      while (end < n && !isSpace(html.charCodeAt(end)) && html[end] !== '>') end++;
      attributes.push({ name, start: k, end, quoted: false });
      i = end;
    }
  }
  return { attributes, end: n };
}

function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
}

function isTagNameEnd(c: number): boolean {
  return isSpace(c) || c === 0x2f || c === 0x3e;
}

// Named references that show up in URLs (and in attempts to hide one). Others stay as written:
// the full HTML table is two thousand names, and a URL with `&copy;` in it is already broken.
const NAMED: Readonly<Record<string, string>> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", sol: '/', colon: ':', equals: '=', quest: '?',
  num: '#', percnt: '%', period: '.', commat: '@', lowbar: '_', plus: '+', comma: ',', semi: ';',
  excl: '!', lpar: '(', rpar: ')', dollar: '$', ast: '*', tilde: '~', hyphen: '-', nbsp: '\u00a0',
};
// Numeric references may omit the ';' (HTML decodes them anyway); named ones here need it,
// which also leaves `?a=1&copy=2` alone as browsers do inside attributes.
const REFERENCE = /&(?:#(?:[xX]([0-9A-Fa-f]{1,6})|([0-9]{1,7}));?|([A-Za-z]+);)/g;

/** Decodes character references as a browser would in an attribute value. */
export function decodeHtmlEntities(value: string): string {
  if (!value.includes('&')) return value;
  return value.replace(REFERENCE, (whole, hex: string | undefined, dec: string | undefined, named: string | undefined) => {
    if (named !== undefined) return Object.hasOwn(NAMED, named) ? (NAMED[named] as string) : whole;
    const cp = hex !== undefined ? parseInt(hex, 16) : parseInt(dec as string, 10);
    const valid = cp > 0 && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    return valid ? String.fromCodePoint(cp) : '\ufffd';
  });
}

// A bare URL in text runs to whitespace or a character that cannot be in one unescaped;
// '<' and '>' also end it, so `<https://…>` works.
const TEXT_URL = /\bhttps?:\/\/[^\s<>"']+/gi;
const TRAILING_PUNCTUATION = /[.,;:!?]$/;
const PAIRS: Readonly<Record<string, string>> = { ')': '(', ']': '[', '}': '{' };

/** Rewrites bare http(s) URLs in plain text. */
export function rewriteTextLinks(text: string, rewrite: LinkRewriter): string {
  return text.replace(TEXT_URL, (match) => {
    const url = trimTrailing(match);
    const replacement = rewrite(url);
    return replacement === undefined ? match : replacement + match.slice(url.length);
  });
}

/** Sentence punctuation after a URL, and a closing bracket that opened before it, are not part of it. */
function trimTrailing(url: string): string {
  let u = url;
  for (;;) {
    const last = u.at(-1) as string;
    if (TRAILING_PUNCTUATION.test(last)) u = u.slice(0, -1);
    else if (Object.hasOwn(PAIRS, last) && count(u, PAIRS[last] as string) < count(u, last)) u = u.slice(0, -1);
    else return u;
  }
}

function count(s: string, ch: string): number {
  let n = 0;
  for (const c of s) if (c === ch) n++;
  return n;
}
