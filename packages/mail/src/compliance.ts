import { ValidationError, normaliseAddress } from '@postbus/contracts';
import { mailbox, renderContent, writeMessage, type ComposeInput, type ComposedMessage } from './compose.js';
import { assertHeaderValue } from './headers.js';
import { rewriteHtmlLinks, rewriteTextLinks } from './links.js';
import { escapeHtml } from './template.js';

/**
 * Compliance by construction (DESIGN.md, "Responsible sending"): bulk mail always gets
 * one-click unsubscribe headers (RFC 8058), a visible unsubscribe link and the sender's postal
 * address; tracking rewrites links and adds an open pixel; every message gets a Feedback-ID.
 *
 * The token payloads mirror @postbus/secrets' TokenKeyring, which satisfies TokenIssuer as it
 * is; mail only needs this one method, not the package.
 */
export interface TrackingTokenPayloads {
  readonly open: { readonly messageId: string; readonly accountId: string };
  readonly click: { readonly messageId: string; readonly accountId: string; readonly url: string };
  readonly unsub: {
    readonly messageId: string;
    readonly accountId: string;
    readonly address: string;
    readonly campaignId?: string;
  };
}

export type TrackingTokenKind = keyof TrackingTokenPayloads;

export interface TokenIssuer {
  issue<K extends TrackingTokenKind>(kind: K, payload: TrackingTokenPayloads[K]): string;
}

interface ComplianceOptions {
  readonly accountId: string;
  /** A campaign tag: goes into the unsubscribe token and Feedback-ID. */
  readonly campaignId?: string;
  /** `https://t.example.com` (a path is allowed): links become `{base}/track/click/{token}`. */
  readonly trackingBase: string;
  /** Where `/unsubscribe/{token}` lives; the tracking base when not given. */
  readonly unsubscribeBase?: string;
  /** Defaults: both on for bulk mail, both off for transactional mail. */
  readonly tracking?: { readonly opens?: boolean; readonly clicks?: boolean };
  /** The last Feedback-ID field: one stable id for this sender (the deployment or tenant). */
  readonly feedbackSenderId: string;
  /** A complete `mailto:` URI offered after the HTTPS one in List-Unsubscribe. */
  readonly unsubscribeMailto?: string;
  /**
   * The platform's unsubscribe mailbox (an address the bounce processor reads): List-Unsubscribe
   * then offers `mailto:<it>?subject=unsubscribe%20<token>` with the message's own token, so a
   * mailed request suppresses exactly the recipient it was sent to. Ignored when
   * `unsubscribeMailto` is given.
   */
  readonly unsubscribeMailbox?: string;
  /** The footer link's text; "Unsubscribe" when not given. */
  readonly unsubscribeLabel?: string;
}

interface BulkOptions {
  readonly mailType: 'bulk';
  /** Required: the law (CAN-SPAM and others) and the providers want it in every bulk message. */
  readonly postalAddress: string;
}

interface TransactionalOptions {
  readonly mailType: 'transactional';
  readonly postalAddress?: string;
  /** Adds List-Unsubscribe (and the footer link when there is a footer). Off by default. */
  readonly unsubscribe?: boolean;
  /** Adds the postal-address footer, which then needs `postalAddress`. Off by default. */
  readonly footer?: boolean;
}

export type CompliantComposeInput = ComposeInput & ComplianceOptions & (BulkOptions | TransactionalOptions);

export interface CompliantMessage extends ComposedMessage {
  /** The recipient's unsubscribe URL, when the message has one. */
  readonly unsubscribeUrl?: string;
}

/** The subject of a mailed unsubscribe request: this word, a space, the message's unsubscribe token. */
export const UNSUBSCRIBE_SUBJECT_PREFIX = 'unsubscribe';

/** Available in templates as `{{unsubscribe_url}}` whenever the message has one. */
export const UNSUBSCRIBE_VARIABLE = 'unsubscribe_url';
// Longer links are left untracked rather than turned into multi-kilobyte tracking URLs.
const MAX_TRACKED_URL = 2048;
const FEEDBACK_FIELD = /^[A-Za-z0-9._-]{1,64}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_BUT_NEWLINES = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;
const MAILTO = /^mailto:[\x21-\x2b\x2d-\x3b\x3d\x3f-\x7e]{1,500}$/i;
// What may stand unescaped in a URL, an HTML attribute and a header alike.
const SAFE_BASE = /^https?:\/\/[A-Za-z0-9.:[\]-]+(?:\/[A-Za-z0-9._~%!$()*+,;=:@-]*)*$/;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export function composeCompliant(input: CompliantComposeInput, issuer: TokenIssuer): CompliantMessage {
  const bulk = input.mailType === 'bulk';
  if (!bulk && input.mailType !== 'transactional') {
    throw new ValidationError('mail_type_invalid', 'mailType must be "bulk" or "transactional"');
  }
  const wantsUnsubscribe = bulk || input.unsubscribe === true;
  const wantsFooter = bulk || input.footer === true;
  const postal = wantsFooter ? postalLines(input.postalAddress) : [];
  const opens = input.tracking?.opens ?? bulk;
  const clicks = input.tracking?.clicks ?? bulk;
  const trackingBase = baseUrl('trackingBase', input.trackingBase);
  const unsubscribeBase = input.unsubscribeBase === undefined ? trackingBase : baseUrl('unsubscribeBase', input.unsubscribeBase);
  const { messageId, accountId, campaignId } = input;
  const feedbackId = feedbackIdOf(campaignId, accountId, input.mailType, input.feedbackSenderId);

  let unsubscribeUrl: string | undefined;
  let unsubscribeMailto = input.unsubscribeMailto;
  if (wantsUnsubscribe) {
    const address = normaliseAddress(mailbox('To', input.to.address));
    const payload = { messageId, accountId, address, ...(campaignId !== undefined ? { campaignId } : {}) };
    const token = issuer.issue('unsub', payload);
    unsubscribeUrl = `${unsubscribeBase}/unsubscribe/${token}`;
    if (unsubscribeMailto === undefined && input.unsubscribeMailbox !== undefined) {
      unsubscribeMailto = `mailto:${mailbox('unsubscribeMailbox', input.unsubscribeMailbox)}?subject=${UNSUBSCRIBE_SUBJECT_PREFIX}%20${token}`;
    }
  }
  const variables = unsubscribeUrl === undefined ? input.variables : { ...input.variables, [UNSUBSCRIBE_VARIABLE]: unsubscribeUrl };
  const rendered = renderContent({ ...input, ...(variables !== undefined ? { variables } : {}) });
  let { text, html } = rendered;

  if (clicks) {
    const tokens = new Map<string, string>();
    const ours = [`${trackingBase}/`, `${unsubscribeBase}/unsubscribe/`];
    // The compose time goes into each click token: a click seconds after it is a scanner's.
    const issuedAt = Math.floor(input.date.getTime() / 1000);
    const rewrite = (url: string): string | undefined => {
      const target = trackableUrl(url);
      if (target === undefined || ours.some((prefix) => target.startsWith(prefix))) return undefined;
      let tracked = tokens.get(target);
      if (tracked === undefined) {
        tracked = `${trackingBase}/track/click/${issuer.issue('click', { messageId, accountId, url: target, ...(issuedAt >= 0 ? { issuedAt } : {}) })}`;
        tokens.set(target, tracked);
      }
      return tracked;
    };
    if (text !== undefined) text = rewriteTextLinks(text, rewrite);
    if (html !== undefined) html = rewriteHtmlLinks(html, rewrite);
  }

  // Added after rewriting, so the unsubscribe link is never turned into a tracked click.
  if (wantsFooter) {
    const label = footerLabel(input.unsubscribeLabel);
    if (text !== undefined) text = appendTextFooter(text, postal, label, unsubscribeUrl);
    if (html !== undefined) html = insertBeforeBodyEnd(html, htmlFooter(postal, label, unsubscribeUrl));
  }
  if (opens && html !== undefined) {
    const src = `${trackingBase}/track/open/${issuer.issue('open', { messageId, accountId })}`;
    html = insertBeforeBodyEnd(
      html,
      `<img src="${src}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0;margin:0;padding:0;">`,
    );
  }

  let system = '';
  if (unsubscribeUrl !== undefined) {
    system += listUnsubscribeHeader(unsubscribeUrl, unsubscribeMailto);
    // RFC 8058: a POST of "List-Unsubscribe=One-Click" to the HTTPS URI unsubscribes.
    system += 'List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n';
  }
  system += `Feedback-ID: ${feedbackId}\r\n`;
  // A URL is not folded (clients differ on whitespace inside one), so it must fit SMTP's limit.
  if (system.split('\r\n').some((line) => line.length > 998)) {
    throw new ValidationError('header_too_long', 'List-Unsubscribe would exceed 998 octets: shorten the unsubscribe base');
  }

  const content = { subject: rendered.subject, ...(text !== undefined ? { text } : {}), ...(html !== undefined ? { html } : {}) };
  const message = writeMessage(input, content, system);
  return unsubscribeUrl === undefined ? message : { ...message, unsubscribeUrl };
}

/** The URL to put in a click token, or undefined for links that stay as they are. */
function trackableUrl(url: string): string | undefined {
  if (!/^https?:/i.test(url)) return undefined; // mailto:, tel:, #anchors, relative links
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  // href is the form a browser would follow: whitespace removed, non-ASCII percent-encoded.
  const href = parsed.href;
  return href.length <= MAX_TRACKED_URL ? href : undefined;
}

/** `https://host[/path]` without a trailing slash; plain http only for a loopback host (tests). */
function baseUrl(field: string, value: string): string {
  if (typeof value !== 'string') throw new ValidationError('tracking_base_invalid', `${field} must be a URL`);
  assertHeaderValue(field, value);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ValidationError('tracking_base_invalid', `${field} must be an absolute URL`);
  }
  const https = url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname));
  const base = `${url.origin}${url.pathname}`.replace(/\/+$/, '');
  if (!https || url.search || url.hash || url.username || url.password || !SAFE_BASE.test(base) || base.length > 200) {
    throw new ValidationError(
      'tracking_base_invalid',
      `${field} must be an https URL of at most 200 characters without query, fragment or credentials`,
    );
  }
  return base;
}

function feedbackIdOf(campaignId: string | undefined, accountId: string, mailType: string, senderId: string): string {
  // Gmail's format is `a:b:c:SenderId`: a colon inside a field would shift every field after it.
  const fields = [...(campaignId !== undefined ? [campaignId] : []), accountId, mailType, senderId];
  for (const field of fields) {
    if (typeof field !== 'string') throw new ValidationError('feedback_id_invalid', 'Feedback-ID fields must be strings');
    assertHeaderValue('Feedback-ID', field);
    if (!FEEDBACK_FIELD.test(field)) {
      throw new ValidationError('feedback_id_invalid', 'Feedback-ID fields must be 1 to 64 of A-Z a-z 0-9 . _ -');
    }
  }
  return fields.join(':');
}

function listUnsubscribeHeader(url: string, mailto: string | undefined): string {
  let field = `List-Unsubscribe: <${url}>`;
  if (mailto !== undefined) {
    assertHeaderValue('List-Unsubscribe', mailto);
    if (!MAILTO.test(mailto)) {
      throw new ValidationError('unsubscribe_mailto_invalid', 'unsubscribeMailto must be a mailto: URI without spaces, commas or angle brackets');
    }
    field += `,\r\n <${mailto}>`;
  }
  return `${field}\r\n`;
}

function postalLines(address: string | undefined): string[] {
  if (typeof address !== 'string' || address.trim() === '') {
    throw new ValidationError('postal_address_required', 'bulk mail (and any footer) needs the sender\'s postal address');
  }
  // Line breaks separate the lines of the address; other control characters have no place in it.
  if (CONTROL_BUT_NEWLINES.test(address) || address.length > 500) {
    throw new ValidationError('postal_address_invalid', 'postal address must be at most 500 characters of text');
  }
  return address
    .split(/\r\n|\r|\n/)
    .map((l) => l.trim().replace(/\t/g, ' '))
    .filter((l) => l.length > 0);
}

function footerLabel(label: string | undefined): string {
  if (label === undefined) return 'Unsubscribe';
  if (typeof label !== 'string' || label.trim() === '' || CONTROL.test(label) || label.length > 100) {
    throw new ValidationError('unsubscribe_label_invalid', 'unsubscribeLabel must be one line of at most 100 characters');
  }
  return label.trim();
}

function appendTextFooter(text: string, postal: readonly string[], label: string, url: string | undefined): string {
  const lines = [...postal, ...(url !== undefined ? [`${label}: ${url}`] : [])];
  const sep = /(?:\r\n|\r|\n)$/.test(text) || text === '' ? '\n' : '\n\n';
  return `${text}${sep}--\n${lines.join('\n')}\n`;
}

function htmlFooter(postal: readonly string[], label: string, url: string | undefined): string {
  const parts = postal.map(escapeHtml);
  if (url !== undefined) parts.push(`<a href="${escapeHtml(url)}" style="color:#666666;">${escapeHtml(label)}</a>`);
  return `<div style="margin-top:24px;font-size:12px;line-height:1.5;color:#666666;">${parts.join('<br>')}</div>`;
}

const BODY_END = /<\/body\s*>/gi;

/** Before the last `</body>` when there is one, else at the end. */
function insertBeforeBodyEnd(html: string, fragment: string): string {
  let at = -1;
  for (const m of html.matchAll(BODY_END)) at = m.index;
  return at < 0 ? `${html}${fragment}` : html.slice(0, at) + fragment + html.slice(at);
}
