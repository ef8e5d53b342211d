import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { PostbusError, ValidationError } from '@postbus/contracts';
import { assertHeaderValue } from './headers.js';

/**
 * DKIM signing (RFC 6376) with relaxed/relaxed canonicalisation: rsa-sha256, or
 * ed25519-sha256 (RFC 8463) when the key is Ed25519. Pure and synchronous; the key is the
 * domain's, passed as PEM or as a KeyObject parsed once by the caller.
 */
export interface DkimOptions {
  /** The signing domain (d=), in ASCII. */
  readonly domain: string;
  /** The selector (s=): the key is published at `{selector}._domainkey.{domain}`. */
  readonly selector: string;
  /** PEM (PKCS#8, or PKCS#1 for RSA) or a KeyObject. Never echoed in an error. */
  readonly privateKey: string | KeyObject;
  /** More header names to sign, on top of the defaults (which are always signed). */
  readonly headers?: readonly string[];
  /** The signature time (t=); omitted when not given, as this function reads no clock. */
  readonly timestamp?: Date;
}

/**
 * Signed whenever present, as many times as present. The first group is also over-signed (one
 * more than present, i.e. signed absent), so nobody can add a second From or Subject, or a
 * List-Unsubscribe to mail that had none, without breaking the signature. Gmail requires
 * List-Unsubscribe and List-Unsubscribe-Post to be covered by DKIM for one-click to count.
 */
const OVERSIGNED = [
  'from', 'to', 'cc', 'reply-to', 'subject', 'date', 'message-id', 'mime-version', 'content-type',
  'content-transfer-encoding', 'list-unsubscribe', 'list-unsubscribe-post',
];
const SIGNED = ['feedback-id', 'in-reply-to', 'references', 'list-id', 'sender'];
const HEADER_NAME = /^[!-9;-~]{1,76}$/;
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?';
const DOMAIN = new RegExp(`^${LABEL}(?:\\.${LABEL})+$`);
const SELECTOR = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const BARE_CR_OR_LF = /\r(?!\n)|(?<!\r)\n/;
const MAX_LINE = 78;

/** The message with a DKIM-Signature header prepended. The input must use CRLF line ends. */
export function signDkim(raw: Buffer, options: DkimOptions): Buffer {
  const { key, algorithm } = dkimKey(options.privateKey);
  const domain = dnsName('domain', options.domain, DOMAIN);
  const selector = dnsName('selector', options.selector, SELECTOR);
  // latin1 maps bytes to code units one to one, so 8-bit bodies are hashed byte for byte.
  const message = raw.toString('latin1');
  if (BARE_CR_OR_LF.test(message)) {
    // A relay would rewrite them to CRLF and so break the signature: refuse rather than sign.
    throw new ValidationError('dkim_message_invalid', 'message must use CRLF line ends only');
  }
  const split = message.indexOf('\r\n\r\n');
  const head = split < 0 ? message : message.slice(0, split + 2);
  const body = split < 0 ? '' : message.slice(split + 4);

  const fields = new Map<string, string[]>();
  for (const field of head.split(/\r\n(?![ \t])/)) {
    if (field === '') continue;
    const name = field.slice(0, Math.max(field.indexOf(':'), 0)).replace(/[ \t]+$/, '').toLowerCase();
    fields.set(name, [...(fields.get(name) ?? []), field]);
  }

  const names: string[] = [];
  const extra = (options.headers ?? []).map((n) => {
    assertHeaderValue('DKIM headers', n);
    if (!HEADER_NAME.test(n)) throw new ValidationError('dkim_header_invalid', 'DKIM header names must be printable, without colons');
    return n.toLowerCase();
  });
  for (const name of new Set([...OVERSIGNED, ...SIGNED, ...extra])) {
    const present = fields.get(name)?.length ?? 0;
    const times = OVERSIGNED.includes(name) ? present + 1 : present;
    for (let i = 0; i < times; i++) names.push(name);
  }

  // Instances are taken from the bottom up (RFC 6376, 5.4.2); past the last one, nothing.
  const used = new Map<string, number>();
  let signed = '';
  for (const name of names) {
    const instances = fields.get(name) ?? [];
    const n = used.get(name) ?? 0;
    used.set(name, n + 1);
    const field = instances[instances.length - 1 - n];
    if (field !== undefined) signed += relaxedHeader(field);
  }

  const bh = createHash('sha256').update(relaxedBody(body), 'latin1').digest('base64');
  const atoms: Atom[] = [
    'v=1;',
    `a=${algorithm};`,
    'c=relaxed/relaxed;',
    `d=${domain};`,
    `s=${selector};`,
    ...(options.timestamp !== undefined ? [`t=${unixTime(options.timestamp)};`] : []),
    // h= names follow each other without a space unless a line break falls between them.
    ...names.map((n, i): Atom => {
      const text = n + (i === names.length - 1 ? ';' : ':');
      return i === 0 ? `h=${text}` : { tight: text };
    }),
    `bh=${bh};`,
    'b=',
  ];
  const unsigned = fold('DKIM-Signature:', atoms);
  const data = Buffer.from(signed + relaxedHeader(unsigned).slice(0, -2), 'latin1');
  const signature =
    algorithm === 'rsa-sha256'
      ? sign('sha256', data, key)
      : sign(null, createHash('sha256').update(data).digest(), key); // RFC 8463: Ed25519 over the SHA-256 hash
  return Buffer.concat([Buffer.from(`${unsigned}${foldSignature(unsigned, signature.toString('base64'))}\r\n`, 'latin1'), raw]);
}

/** RFC 6376, 3.4.2: lower-case name, unfolded, runs of blanks as one space, none at the ends. */
export function relaxedHeader(field: string): string {
  const colon = field.indexOf(':');
  const name = field.slice(0, colon).replace(/[ \t]+$/, '').toLowerCase();
  const value = field
    .slice(colon + 1)
    .replace(/\r\n/g, '')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '');
  return `${name}:${value}\r\n`;
}

/** RFC 6376, 3.4.4: blanks collapsed and trimmed at line ends, empty lines at the end removed. */
export function relaxedBody(body: string): string {
  const lines = body.split('\r\n').map((l) => l.replace(/[ \t]+/g, ' ').replace(/ $/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.length === 0 ? '' : `${lines.join('\r\n')}\r\n`;
}

/** A piece of the header: written after a space, or right after the previous one when tight. */
type Atom = string | { readonly tight: string };

/**
 * Atoms wrapped before 78 columns: every break falls where the tag-list grammar allows folding
 * whitespace, and the signature covers the folded text exactly as written.
 */
function fold(start: string, atoms: readonly Atom[]): string {
  let out = start;
  let width = start.length;
  for (const atom of atoms) {
    const text = typeof atom === 'string' ? atom : atom.tight;
    const sep = typeof atom === 'string' ? ' ' : '';
    if (width + sep.length + text.length > MAX_LINE) {
      out += `\r\n ${text}`;
      width = 1 + text.length;
    } else {
      out += sep + text;
      width += sep.length + text.length;
    }
  }
  return out;
}

/** The b= value, continuing the last line; verifiers drop it with any whitespace inside. */
function foldSignature(unsigned: string, b64: string): string {
  const lastLine = unsigned.length - unsigned.lastIndexOf('\n') - 1;
  let out = '';
  let room = Math.max(MAX_LINE - lastLine, 0);
  for (let i = 0; i < b64.length; ) {
    if (room === 0) {
      out += '\r\n ';
      room = MAX_LINE - 1;
    }
    const chunk = b64.slice(i, i + room);
    out += chunk;
    i += chunk.length;
    room -= chunk.length;
  }
  return out;
}

function unixTime(date: Date): number {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new ValidationError('invalid_date', 'timestamp is not a valid Date');
  return Math.floor(ms / 1000);
}

function dnsName(field: 'domain' | 'selector', value: string, pattern: RegExp): string {
  if (typeof value !== 'string') throw new ValidationError('dkim_domain_invalid', `DKIM ${field} must be a string`);
  assertHeaderValue(`DKIM ${field}`, value);
  if (!pattern.test(value) || value.length > 253) {
    throw new ValidationError('dkim_domain_invalid', `DKIM ${field} must be an ASCII DNS name`);
  }
  return value.toLowerCase();
}

/**
 * A key that cannot sign is the domain's configuration, not this message's fault: scoped to
 * the account so it is fixed once rather than failing each message in turn.
 */
/**
 * The TXT record receivers verify with (`{selector}._domainkey.{domain}`), from the private key,
 * which is checked as signing checks it (`dkim_key_invalid` otherwise). Ed25519 records carry
 * the raw 32-byte key (RFC 8463), RSA ones the SubjectPublicKeyInfo.
 */
export function dkimDnsRecordValue(privateKey: string | KeyObject): string {
  const { key, algorithm } = dkimKey(privateKey);
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const ed = algorithm === 'ed25519-sha256';
  return `v=DKIM1; k=${ed ? 'ed25519' : 'rsa'}; p=${(ed ? spki.subarray(spki.length - 32) : spki).toString('base64')}`;
}

function dkimKeyError(problem: string): PostbusError {
  return new PostbusError('dkim_key_invalid', `DKIM private key: ${problem}`, { scope: 'account', status: 422 });
}

function dkimKey(input: string | KeyObject): { key: KeyObject; algorithm: 'rsa-sha256' | 'ed25519-sha256' } {
  let key: KeyObject;
  try {
    key = typeof input === 'string' ? createPrivateKey(input) : input;
  } catch {
    // No cause attached: nothing in it would help, and it must not carry key text into a log.
    throw dkimKeyError('could not be read (an unencrypted PEM private key is expected)');
  }
  if (key.type !== 'private') throw dkimKeyError('is not a private key');
  if (key.asymmetricKeyType === 'ed25519') return { key, algorithm: 'ed25519-sha256' };
  if (key.asymmetricKeyType !== 'rsa') throw dkimKeyError('must be RSA or Ed25519');
  // RFC 8301: verifiers must not accept RSA keys under 1024 bits.
  if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 1024) throw dkimKeyError('RSA keys need at least 1024 bits (2048 advised)');
  return { key, algorithm: 'rsa-sha256' };
}
