import { normaliseEnhancedCode, parseEnhancedCode, parseReplyCode } from './codes.js';
import { classifyErrorCode } from './errno.js';
import {
  AUTH_FAILED,
  AUTH_REQUIRED,
  BAD_ADDRESS,
  CONTENT,
  GREYLIST,
  MAILBOX_FULL,
  POLICY,
  RATE,
  RECIPIENT_RATE,
  RELAY,
  SENDER,
  SENDER_AUTH,
  SERVER_BUSY,
  SPAM,
  STARTTLS,
  TOO_BIG,
  TRY_LATER,
  UNKNOWN_DOMAIN,
  UNKNOWN_USER,
} from './patterns.js';
import type { Classification, EnhancedCode, SmtpPhase, SmtpReplyInput } from './types.js';
import { verdict } from './verdict.js';

interface Reply {
  readonly phase: SmtpPhase;
  readonly code: number | undefined;
  readonly enhanced: EnhancedCode | undefined;
  readonly text: string;
  /** 5xx: the same attempt will fail again. */
  readonly permanent: boolean;
  readonly errorCode: string | undefined;
}

// Codes that mean our login failed whatever the phase: Gmail 5.7.8/5.7.9/5.7.14, Outlook
// 5.7.139 (SMTP AUTH disabled). Outlook's "535 5.7.3" is caught by its 535.
const AUTH_CODES = new Set(['5.7.8', '5.7.9', '5.7.14', '5.7.139']);
const SESSION_PHASES = new Set<SmtpPhase>(['connect', 'greeting', 'tls']);
const RECIPIENT_PHASES = new Set<SmtpPhase>(['rcpt', 'data', 'message']);

/**
 * Reads one synchronous SMTP failure (a reply, or an error with no reply) into who is at fault,
 * whether to retry, why, and whether the address is dead. The reply code, when present, decides
 * permanence; an embedded enhanced code and the text refine the reason.
 */
export function classifySmtpReply(input: SmtpReplyInput): Classification {
  const code = validReply(input.replyCode) ?? parseReplyCode(input.response);
  const enhanced = normaliseEnhancedCode(input.enhancedCode) ?? parseEnhancedCode(input.response);
  const cls = code !== undefined ? Math.floor(code / 100) : enhanced?.class;
  if (cls === 4 || cls === 5) {
    return fromReply({
      phase: input.phase,
      code,
      enhanced,
      text: (input.response ?? '').toLowerCase(),
      permanent: cls === 5,
      errorCode: input.errorCode?.toUpperCase(),
    });
  }
  if (input.errorCode) return classifyErrorCode(input.errorCode);
  return verdict('message', true, 'unknown');
}

export function isRetryable(input: SmtpReplyInput): boolean {
  return classifySmtpReply(input).retryable;
}

function validReply(code: number | undefined): number | undefined {
  return code !== undefined && Number.isInteger(code) && code >= 200 && code <= 599 ? code : undefined;
}

function fromReply(r: Reply): Classification {
  const ec = r.enhanced?.code;
  const retry = !r.permanent;

  if (r.phase === 'auth' || r.errorCode === 'EAUTH' || r.code === 535 || (ec && AUTH_CODES.has(ec))) {
    if (retry) return verdict('account', true, RATE.test(r.text) ? 'rate_limited' : 'temporary');
    return verdict('account', false, AUTH_REQUIRED.test(r.text) && !AUTH_FAILED.test(r.text) ? 'auth_required' : 'auth_failed');
  }
  // 530 at MAIL or RCPT means the session never authenticated (or skipped STARTTLS).
  const authPhase = r.phase === 'mail' || SESSION_PHASES.has(r.phase);
  if (r.code === 530 || ec === '5.7.57' || (authPhase && AUTH_REQUIRED.test(r.text))) {
    return verdict('account', retry, STARTTLS.test(r.text) ? 'tls_failed' : 'auth_required');
  }
  if (SESSION_PHASES.has(r.phase)) return fromSession(r);

  if (ec === '5.2.2' || ec === '4.2.2') return verdict('message', true, 'mailbox_full');
  if (retry && GREYLIST.test(r.text)) return verdict('message', true, 'greylisted');
  if (isAccountRate(r)) return verdict('account', true, 'rate_limited');
  if (retry && RECIPIENT_RATE.test(r.text)) return verdict('message', true, 'temporary');
  if (RELAY.test(r.text)) return verdict('account', retry, 'relay_denied');
  if (ec === '5.1.7' || ec === '5.1.8' || ec === '5.7.60' || SENDER.test(r.text)) {
    return verdict('account', retry, 'sender_rejected');
  }
  if (MAILBOX_FULL.test(r.text)) return verdict('message', true, 'mailbox_full');
  // 552 without a better code is "exceeded storage allocation", in practice a size limit;
  // Gmail also uses 552 with 5.7.0 for dangerous content, so an enhanced code wins.
  const bare552 = r.code === 552 && (r.enhanced === undefined || r.enhanced.subject === 3);
  if (ec === '5.3.4' || ec === '5.2.3' || ec === '4.3.4' || bare552 || TOO_BIG.test(r.text)) {
    return verdict('message', false, 'message_too_big');
  }
  if (!retry && RECIPIENT_PHASES.has(r.phase)) {
    const dead = deadAddress(r);
    if (dead) return dead;
  }
  // 421 closes the whole session and busy/out-of-storage replies are server-wide: none of it
  // is about this message.
  if (r.code === 421 || ec === '4.3.1' || ec === '4.3.2' || (retry && SERVER_BUSY.test(r.text))) {
    return verdict('account', true, 'server_unavailable');
  }
  const policy = fromPolicy(r);
  if (policy) return policy;
  if (retry) return verdict('message', true, 'temporary');
  // A permanent refusal of MAIL FROM with no better reason is still about who we send as.
  if (r.phase === 'mail') return verdict('account', false, 'sender_rejected');
  // 501 to RCPT TO: the server could not even parse the address.
  if (r.phase === 'rcpt' && r.code === 501) return verdict('message', false, 'bad_address');
  return verdict('message', false, 'unknown');
}

/** Before any envelope exists, every failure is the account's server talking to us. */
function fromSession(r: Reply): Classification {
  if (RATE.test(r.text)) return verdict('account', true, 'rate_limited');
  if (r.phase === 'tls' || STARTTLS.test(r.text)) return verdict('account', !r.permanent, 'tls_failed');
  if (SPAM.test(r.text)) return verdict('account', !r.permanent, 'spam_blocked');
  return verdict('account', !r.permanent, 'server_unavailable');
}

function isAccountRate(r: Reply): boolean {
  // Gmail's "550 5.4.5 Daily user sending quota exceeded" is a 5xx that lifts after 24 h.
  if (r.enhanced?.code === '5.4.5' || r.enhanced?.code === '4.4.5') return true;
  if (RECIPIENT_RATE.test(r.text)) return false;
  if (RATE.test(r.text)) return true;
  // Gmail's bare "421 4.7.0 Try again later, closing connection." is its throttle.
  return !r.permanent && r.enhanced?.code === '4.7.0' && TRY_LATER.test(r.text);
}

function deadAddress(r: Reply): Classification | undefined {
  const e = r.enhanced;
  if (e?.subject === 1) {
    if (e.detail === 2) return verdict('message', false, 'unknown_domain');
    if (e.detail === 3) return verdict('message', false, 'bad_address');
    return verdict('message', false, 'unknown_user');
  }
  // 5.2.1: mailbox disabled (Gmail: "The email account that you tried to reach is disabled").
  if (e?.code === '5.2.1') return verdict('message', false, 'unknown_user');
  // 5.4.4: no route to the recipient's domain (no MX, no A).
  if (e?.code === '5.4.4') return verdict('message', false, 'unknown_domain');
  // Exchange Online directory-based edge blocking: the recipient is not in the tenant.
  if (e?.code === '5.4.1' && /recipient address rejected: access denied/.test(r.text)) {
    return verdict('message', false, 'unknown_user');
  }
  if (e?.subject === 7) return undefined;
  if (UNKNOWN_DOMAIN.test(r.text)) return verdict('message', false, 'unknown_domain');
  if (UNKNOWN_USER.test(r.text)) return verdict('message', false, 'unknown_user');
  if (BAD_ADDRESS.test(r.text)) return verdict('message', false, 'bad_address');
  return undefined;
}

/**
 * Policy and spam refusals say something about the sender or the content, not the recipient:
 * message scope, never hard, so they do not suppress the address (their rate is watched per
 * account by the bounce processor instead).
 */
function fromPolicy(r: Reply): Classification | undefined {
  const e = r.enhanced;
  const retry = !r.permanent;
  // Sender-authentication failures (DMARC, SPF, DKIM) often say "blocked" too; they are policy.
  if (SENDER_AUTH.test(r.text)) return verdict('message', retry, 'policy');
  if (e?.subject === 6 || CONTENT.test(r.text)) return verdict('message', retry, 'content_rejected');
  if (SPAM.test(r.text)) return verdict('message', retry, 'spam_blocked');
  if (e?.subject === 7 || POLICY.test(r.text)) return verdict('message', retry, 'policy');
  return undefined;
}
