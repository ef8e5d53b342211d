// A test-only DKIM verifier written from RFC 6376 (and RFC 8463 for Ed25519), sharing no code
// with the signer under test. Supports what the signer produces: one signature, relaxed/relaxed.
import { createHash, verify, type KeyObject } from 'node:crypto';

export interface DkimVerdict {
  readonly ok: boolean;
  readonly reason?: string;
  readonly tags: Readonly<Record<string, string>>;
  /** h= as listed, lower-cased. */
  readonly signedHeaders: readonly string[];
}

interface Field {
  readonly name: string;
  readonly text: string; // the whole field, folds included, no final CRLF
}

export function verifyDkim(raw: Buffer, publicKey: KeyObject): DkimVerdict {
  const message = raw.toString('latin1');
  const end = message.indexOf('\r\n\r\n');
  const fields = splitFields(end < 0 ? message : message.slice(0, end));
  const body = end < 0 ? '' : message.slice(end + 4);

  const sigIndex = fields.findIndex((f) => f.name === 'dkim-signature');
  if (sigIndex < 0) return { ok: false, reason: 'no signature', tags: {}, signedHeaders: [] };
  const sig = fields[sigIndex] as Field;
  const tags = parseTagList(sig.text.slice(sig.text.indexOf(':') + 1));
  const signedHeaders = (tags.h ?? '').split(':').map((h) => h.trim().toLowerCase());
  const fail = (reason: string): DkimVerdict => ({ ok: false, reason, tags, signedHeaders });
  if (tags.v !== '1') return fail('v');
  if (tags.c !== 'relaxed/relaxed') return fail('c');
  if (tags.a !== 'rsa-sha256' && tags.a !== 'ed25519-sha256') return fail('a');
  if (!signedHeaders.includes('from')) return fail('h lacks from');

  const bodyHash = createHash('sha256').update(canonicalBody(body), 'latin1').digest('base64');
  if (bodyHash !== tags.bh) return fail('body hash');

  // Section 5.4.2: each listed name takes the next instance from the bottom; none left, nothing.
  const others = fields.filter((_, i) => i !== sigIndex);
  const taken = new Set<number>();
  let input = '';
  for (const name of signedHeaders) {
    for (let i = others.length - 1; i >= 0; i--) {
      if (!taken.has(i) && (others[i] as Field).name === name) {
        taken.add(i);
        input += canonicalHeader((others[i] as Field).text);
        break;
      }
    }
  }
  // Section 3.7: the signature field itself, its b= value emptied, without its final CRLF.
  const colon = sig.text.indexOf(':');
  const emptied = sig.text.slice(0, colon + 1) + sig.text.slice(colon + 1).replace(/((?:^|;)[ \t\r\n]*b[ \t\r\n]*=)[^;]*/, '$1');
  input += canonicalHeader(emptied).replace(/\r\n$/, '');

  const signature = Buffer.from((tags.b ?? '').replace(/[ \t\r\n]/g, ''), 'base64');
  const data = Buffer.from(input, 'latin1');
  const ok =
    tags.a === 'rsa-sha256'
      ? verify('sha256', data, publicKey, signature)
      : verify(null, createHash('sha256').update(data).digest(), publicKey, signature);
  return ok ? { ok, tags, signedHeaders } : fail('signature');
}

function splitFields(block: string): Field[] {
  const fields: Array<{ name: string; text: string }> = [];
  for (const line of block.split('\r\n')) {
    const last = fields[fields.length - 1];
    if ((line.startsWith(' ') || line.startsWith('\t')) && last) last.text += `\r\n${line}`;
    else fields.push({ name: line.split(':')[0]!.trim().toLowerCase(), text: line });
  }
  return fields;
}

function parseTagList(value: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const spec of value.split(';')) {
    const eq = spec.indexOf('=');
    if (eq < 0) continue;
    const name = spec.slice(0, eq).replace(/[ \t\r\n]/g, '');
    tags[name] = spec.slice(eq + 1).replace(/\r\n/g, '').trim();
  }
  return tags;
}

/** Section 3.4.2, character by character. */
export function canonicalHeader(field: string): string {
  const unfolded = field.split('\r\n').join('');
  const colon = unfolded.indexOf(':');
  let name = unfolded.slice(0, colon);
  while (name.endsWith(' ') || name.endsWith('\t')) name = name.slice(0, -1);
  let value = '';
  let blank = false;
  for (const ch of unfolded.slice(colon + 1)) {
    if (ch === ' ' || ch === '\t') blank = true;
    else {
      if (blank && value !== '') value += ' ';
      value += ch;
      blank = false;
    }
  }
  return `${name.toLowerCase()}:${value}\r\n`;
}

/** Section 3.4.4, line by line. */
export function canonicalBody(body: string): string {
  const out: string[] = [];
  for (const line of body.split('\r\n')) {
    let l = '';
    let blank = false;
    for (const ch of line) {
      if (ch === ' ' || ch === '\t') blank = true;
      else {
        if (blank) l += ' ';
        l += ch;
        blank = false;
      }
    }
    out.push(l);
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out.length === 0 ? '' : `${out.join('\r\n')}\r\n`;
}
