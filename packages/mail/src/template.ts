import { LruCache } from './lru.js';

export interface TemplateSource {
  readonly subject: string;
  readonly text?: string;
  readonly html?: string;
}

export interface RenderedContent {
  readonly subject: string;
  readonly text?: string;
  readonly html?: string;
}

export type TemplateVariables = Readonly<Record<string, string>>;

/**
 * A parsed template part: literal text at even indexes, variable names at odd indexes.
 * `literals.length === names.length + 1`.
 */
interface CompiledPart {
  readonly literals: readonly string[];
  readonly names: readonly string[];
}

export interface PreparedTemplate {
  render(variables?: TemplateVariables): RenderedContent;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}/g;
// Campaigns send one template to many recipients: parse each part once, not once per email.
const cache = new LruCache<string, CompiledPart>(1000);

export function prepareTemplate(source: TemplateSource): PreparedTemplate {
  const subject = compile(source.subject);
  const text = source.text === undefined ? undefined : compile(source.text);
  const html = source.html === undefined ? undefined : compile(source.html);
  return {
    render(variables = {}) {
      return {
        subject: renderPart(subject, variables, identity),
        ...(text ? { text: renderPart(text, variables, identity) } : {}),
        ...(html ? { html: renderPart(html, variables, escapeHtml) } : {}),
      };
    },
  };
}

function compile(source: string): CompiledPart {
  if (!source.includes('{{')) return { literals: [source], names: [] };
  const hit = cache.get(source);
  if (hit) return hit;
  const literals: string[] = [];
  const names: string[] = [];
  let last = 0;
  for (const m of source.matchAll(PLACEHOLDER)) {
    literals.push(source.slice(last, m.index));
    names.push(m[1] as string);
    last = m.index + m[0].length;
  }
  literals.push(source.slice(last));
  const part = { literals, names };
  cache.set(source, part);
  return part;
}

function renderPart(part: CompiledPart, vars: TemplateVariables, escape: (v: string) => string): string {
  if (part.names.length === 0) return part.literals[0] as string;
  let out = part.literals[0] as string;
  for (let i = 0; i < part.names.length; i++) {
    const name = part.names[i] as string;
    // hasOwn: a placeholder named "constructor" must not render Object's prototype.
    const value = Object.hasOwn(vars, name) ? vars[name] : undefined;
    if (value !== undefined && value !== null) out += escape(String(value));
    out += part.literals[i + 1] as string;
  }
  return out;
}

function identity(value: string): string {
  return value;
}

const HTML_SPECIAL = /[&<>"']/g;
const HTML_ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: string): string {
  HTML_SPECIAL.lastIndex = 0;
  if (!HTML_SPECIAL.test(value)) return value;
  return value.replace(HTML_SPECIAL, (c) => HTML_ENTITIES[c] as string);
}
