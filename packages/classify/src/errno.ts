import type { Classification } from './types.js';
import { verdict } from './verdict.js';

// The account's server cannot be reached or dropped us: pause the account, keep the message.
const CONNECTION = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ECONNECTION',
  'ESOCKET',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'EPROTOCOL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'EAI_FAIL',
  'EDNS',
]);
const TIMEOUT = new Set(['ETIMEDOUT', 'ETIMEOUT', 'ESOCKETTIMEDOUT', 'ECONNTIMEDOUT']);
// Our own host is out of resources: no account is at fault.
const LOCAL = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);
const TLS_NAMES = new Set([
  'ETLS',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'HOSTNAME_MISMATCH',
]);

function isTls(code: string): boolean {
  return TLS_NAMES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || code.startsWith('CERT_');
}

/** Classifies an error that came with no SMTP reply at all. */
export function classifyErrorCode(errorCode: string): Classification {
  const code = errorCode.toUpperCase();
  if (code === 'EAUTH') return verdict('account', false, 'auth_failed');
  if (isTls(code)) return verdict('account', true, 'tls_failed');
  // A timeout after DATA is the "uncertain" window; the sender decides that from the phase,
  // the classifier only says the account's server is misbehaving.
  if (TIMEOUT.has(code)) return verdict('account', true, 'timeout');
  if (CONNECTION.has(code)) return verdict('account', true, 'connection_failed');
  if (LOCAL.has(code)) return verdict('platform', true, 'connection_failed');
  // nodemailer refuses an envelope it cannot use (no recipient, bad address) before sending.
  if (code === 'EENVELOPE') return verdict('message', false, 'bad_address');
  return verdict('message', true, 'unknown');
}
