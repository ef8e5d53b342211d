import type { AttributeValue, Attributes, Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';

/**
 * Invariant 8 for spans: whatever an instrumentation records, no address and no secret leaves
 * the process. Addresses are blanked inside any value; attributes named like secrets are
 * dropped to a marker; URLs lose their query and their token-like path segments (the tracking
 * paths carry signed tokens), leaving the route template (`/track/open/:token`). URLs inside
 * free text (an exception message naming the URL it failed on) lose their query too.
 */
const ADDRESS = /[^\s<>()[\]\\,;:"'@]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+/g;
const SECRET_KEY = /pass(word)?|secret|token|authori[sz]ation|cookie|api[-_.]?key|private[-_.]?key|credential/i;
const URL_KEYS = new Set(['http.url', 'http.target', 'url.full', 'url.path', 'http.route', 'url.original']);
const DROPPED_KEYS = new Set(['url.query']);
const TOKEN_AFTER = new Set(['open', 'click', 'unsubscribe', 'u', 'o', 'c', 't', 'track', 'lead', 'leads', 'verify', 'reset']);
const ID_LIKE = /^[A-Za-z0-9_\-.~%=]{16,}$/;
// An address percent-encoded in a URL (`users/jane%40example.com`).
const ENCODED_ADDRESS = /[^\s<>()[\]\\,;:"'@/?&=#]+%40[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+/gi;
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;

export const REDACTED = '[redacted]';
export const ADDRESS_MARK = '[address]';

export function scrubText(value: string): string {
  let out = value.includes('://') ? value.replace(URL_IN_TEXT, routeTemplate) : value;
  if (out.includes('%40')) out = out.replace(ENCODED_ADDRESS, ADDRESS_MARK);
  return out.includes('@') ? out.replace(ADDRESS, ADDRESS_MARK) : out;
}

/**
 * `/track/open/eyJ…?x=1` → `/track/open/:token`; long ids become `:id`. A full URL keeps its
 * origin (without credentials). A long segment with digits or dots, or a long mixed-case one
 * (a webhook's secret path: `/services/T0/B0/AbCdEfGhIjKlMnOpQrStUvWx`), is not a word.
 */
export function routeTemplate(pathOrUrl: string): string {
  let origin = '';
  let path = pathOrUrl;
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)(.*)$/i.exec(pathOrUrl);
  if (m) {
    origin = (m[1] ?? '').replace(/\/\/[^@/]*@/, '//');
    path = m[2] ?? '';
  }
  path = path.split(/[?#]/, 1)[0] ?? '';
  const segments = path.split('/');
  const out = segments.map((s, i) => {
    if (!ID_LIKE.test(s)) return s;
    const mixedCase = s.length >= 20 && /[a-z]/.test(s) && /[A-Z]/.test(s);
    if (!mixedCase && !/[\d.]/.test(s)) return s;
    return TOKEN_AFTER.has(segments[i - 1] ?? '') || s.length >= 40 || s.includes('.') || (mixedCase && !/\d/.test(s)) ? ':token' : ':id';
  });
  return origin + out.join('/');
}

function scrubValue(key: string, value: AttributeValue): AttributeValue | undefined {
  if (DROPPED_KEYS.has(key)) return undefined;
  if (SECRET_KEY.test(key) && !URL_KEYS.has(key)) return REDACTED;
  if (typeof value === 'string') return scrubText(URL_KEYS.has(key) ? routeTemplate(value) : value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? scrubText(v) : v)) as AttributeValue;
  return value;
}

/** The scrubbed copy of some attributes (undefined values dropped). */
export function scrubAttributes(attrs: Attributes): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    const s = scrubValue(k, v);
    if (s !== undefined) out[k] = s;
  }
  return out;
}

/**
 * Runs first, in `onEnding` (the span is still writable), so the exporting processors after it
 * only ever see scrubbed spans. Event attributes (exception messages) are scrubbed in place.
 */
export class ScrubbingSpanProcessor implements SpanProcessor {
  onStart(_span: Span, _parent: Context): void {}

  onEnding(span: Span): void {
    const attrs = span.attributes as Record<string, AttributeValue | undefined>;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined) continue;
      const s = scrubValue(k, v);
      if (s === undefined) delete attrs[k];
      else if (s !== v) attrs[k] = s;
    }
    for (const e of span.events) {
      if (!e.attributes) continue;
      const ea = e.attributes as Record<string, AttributeValue | undefined>;
      for (const [k, v] of Object.entries(ea)) {
        if (v === undefined) continue;
        const s = scrubValue(k, v);
        if (s === undefined) delete ea[k];
        else ea[k] = s;
      }
    }
    const status = span.status as { message?: string };
    if (status.message) status.message = scrubText(status.message);
    const name = scrubText(span.name);
    const route = attrs['http.route'];
    if (span.kind === 1 /* SERVER */ && typeof route === 'string' && !name.includes('/')) span.updateName(`${name} ${route}`);
    else if (name !== span.name) span.updateName(name);
  }

  onEnd(_span: ReadableSpan): void {}

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
