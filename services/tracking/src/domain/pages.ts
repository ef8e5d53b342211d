import { createHash } from 'node:crypto';

/**
 * The few HTML pages tracking shows a person. Everything interpolated is escaped; the pages
 * carry no script and no external resource, and the one style block is allowed by its hash,
 * so the Content-Security-Policy can forbid everything else.
 */
const STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;margin:0;padding:2rem 1rem;color:#222;background:#f6f6f6}' +
  'main{max-width:32rem;margin:0 auto;background:#fff;padding:1.5rem 2rem;border-radius:8px}' +
  'h1{font-size:1.4rem;margin-top:0}button{font:inherit;padding:.6rem 1.2rem;border-radius:6px;border:1px solid #444;background:#222;color:#fff;cursor:pointer}';

const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

/** For every HTML answer: no script, no frame, no external anything; forms post only to us. */
export const PAGE_CSP = `default-src 'none'; script-src 'none'; style-src 'sha256-${STYLE_HASH}'; img-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`;

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/**
 * `r•••@example.org`: enough for the recipient to recognise the mailbox, not enough to learn
 * it from a forwarded link. The input is the token's normalised address.
 */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at <= 0) return '•••';
  return `${address.slice(0, 1)}•••${address.slice(at)}`;
}

function page(title: string, body: string): string {
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    '<meta name="robots" content="noindex, nofollow">' +
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>` +
    `<body><main>${body}</main></body></html>`
  );
}

/**
 * The page behind a visible unsubscribe link. A GET never unsubscribes (link scanners follow
 * links): the button POSTs to this same URL (a form without `action` posts to the page's own
 * URL, so the token is not repeated in the page).
 */
export function confirmPage(address: string): string {
  return page(
    'Unsubscribe',
    '<h1>Unsubscribe</h1>' +
      `<p>Stop all email from this sender to <strong>${escapeHtml(maskAddress(address))}</strong>?</p>` +
      '<form method="post"><button type="submit" name="confirm" value="unsubscribe">Unsubscribe</button></form>',
  );
}

export function unsubscribedPage(): string {
  return page('Unsubscribed', '<h1>You are unsubscribed</h1><p>This address will not receive any more of these emails.</p>');
}

export function notFoundPage(): string {
  return page('Not found', '<h1>Not found</h1>');
}

export function unavailablePage(): string {
  return page('Try again', '<h1>Temporarily unavailable</h1><p>Nothing was changed. Please try again in a moment.</p>');
}

export function errorPage(status: number): string {
  return page('Error', `<h1>Error ${escapeHtml(String(status))}</h1>`);
}
