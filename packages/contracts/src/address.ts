import { createHash } from 'node:crypto';
import { domainToASCII } from 'node:url';

/**
 * Email addresses: one parser for every edge (HTTP bodies, events, SMTP envelopes) and one
 * normaliser for the suppression list, shared by every service. The parser accepts the
 * dot-atom form of RFC 5321 mailboxes (no quoted local parts, no comments, no source
 * routes) with an internationalised domain converted to its ASCII form; SMTPUTF8 local
 * parts are refused rather than half-supported.
 */
export interface ParsedAddress {
  readonly local: string;
  readonly domain: string; // ASCII (punycode), lower case
  /** `local@domain` with the domain in ASCII: what goes into RCPT TO and headers. */
  readonly address: string;
}

export type AddressProblem =
  | 'empty'
  | 'too_long'
  | 'control_characters'
  | 'missing_at'
  | 'bad_local_part'
  | 'bad_domain';

export class AddressError extends Error {
  readonly problem: AddressProblem;
  constructor(problem: AddressProblem) {
    super(`invalid email address: ${problem.replace(/_/g, ' ')}`);
    this.name = 'AddressError';
    this.problem = problem;
  }
}

const ATEXT = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$/;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export function parseAddress(input: string): ParsedAddress {
  if (typeof input !== 'string' || input.length === 0) throw new AddressError('empty');
  if (input.length > 320) throw new AddressError('too_long');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(input)) throw new AddressError('control_characters');
  const trimmed = input.trim();
  const at = trimmed.lastIndexOf('@');
  if (at <= 0 || at === trimmed.length - 1) throw new AddressError('missing_at');
  const local = trimmed.slice(0, at);
  const rawDomain = trimmed.slice(at + 1);
  if (local.length > 64) throw new AddressError('bad_local_part');
  const atoms = local.split('.');
  if (atoms.some((a) => !ATEXT.test(a))) throw new AddressError('bad_local_part');
  const domain = domainToASCII(rawDomain.toLowerCase());
  if (!domain || domain.length > 253) throw new AddressError('bad_domain');
  const labels = domain.split('.');
  if (labels.length < 2 || labels.some((l) => !LABEL.test(l))) throw new AddressError('bad_domain');
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) throw new AddressError('bad_domain');
  return { local, domain, address: `${local}@${domain}` };
}

const GMAIL_DOMAINS = new Set(['gmail.com', 'googlemail.com']);

/**
 * The suppression key of an address. Errs towards suppressing more: local parts are
 * compared without case (practically every mailbox provider does), and for Gmail, which
 * ignores dots and `+tags`, the canonical mailbox is used. Other providers' sub-addressing
 * is left alone, since their separators differ.
 */
export function normaliseAddress(input: string): string {
  const { local, domain } = parseAddress(input);
  let l = local.toLowerCase();
  let d = domain;
  if (GMAIL_DOMAINS.has(d)) {
    d = 'gmail.com';
    l = l.split('+')[0]!.replace(/\./g, '');
  }
  return `${l}@${d}`;
}

/** SHA-256 of the normalised address: the suppression table's key. */
export function addressHash(input: string): Buffer {
  return createHash('sha256').update(normaliseAddress(input)).digest();
}
