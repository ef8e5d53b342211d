import { normaliseEnhancedCode, parseEnhancedCode, parseReplyCode } from '../codes.js';
import type { EnhancedCode } from '../types.js';
import {
  AUTH,
  DISABLED,
  EXPIRED,
  MAILBOX_FULL,
  POLICY,
  RATE,
  REPUTATION,
  SENDER_SIDE,
  SPAM,
  TEMPORARY,
  TOO_BIG,
  UNKNOWN_DOMAIN,
  UNKNOWN_USER,
} from './patterns.js';
import type { BounceInput, BounceSeverity, BounceVerdict, ReportReason } from './types.js';

const SENDER_REASONS = new Set<ReportReason>(['message_too_big', 'spam_blocked', 'reputation_blocked', 'policy', 'auth_failed', 'rate_limited']);
const DEAD_REASONS = new Set<ReportReason>(['unknown_user', 'unknown_domain', 'mailbox_disabled']);

/**
 * One recipient of a bounce report. Only a dead address (unknown user or domain, mailbox
 * disabled) is hard and suppressed; whatever speaks of the sender or the message (policy, spam,
 * blocklists, authentication, rate, size) is 'sender' even with a 5xx. The diagnostic text is
 * read first, since receivers often send a generic or wrong code (5.0.0, or 5.1.1 for a block);
 * the code decides only when the text says nothing we know.
 */
export function classifyBounce(input: BounceInput): BounceVerdict {
  const text = (input.diagnostic ?? '').slice(0, 4000).toLowerCase();
  const stripped = text.replace(/^\s*(?:smtp|x-[a-z-]{1,30}|mta|x400)\s*;\s*/, '');
  const enhanced = normaliseEnhancedCode(input.status) ?? parseEnhancedCode(stripped);
  const reply = validReply(input.replyCode) ?? parseReplyCode(stripped) ?? leadingReply(stripped);
  // The DSN's Status is its final word on permanence; a quoted reply only when it is missing.
  const cls = enhanced?.class ?? (reply !== undefined ? Math.floor(reply / 100) : undefined);
  const reason = fromText(text, enhanced) ?? fromCode(enhanced, reply);
  return verdict(reason, cls);
}

function verdict(reason: ReportReason, cls: number | undefined): BounceVerdict {
  let severity: BounceSeverity;
  if (SENDER_REASONS.has(reason)) severity = 'sender';
  // A dead-address text with a 4xx is not final: the receiver itself says it may change.
  else if (DEAD_REASONS.has(reason) && cls !== 4 && cls !== 2) severity = 'hard';
  else severity = 'soft';
  return { reason, severity, suppress: severity === 'hard' };
}

function validReply(code: number | undefined): number | undefined {
  return code !== undefined && Number.isInteger(code) && code >= 200 && code <= 599 ? code : undefined;
}

/** '#550 5.1.1', 'host x said: 550 ...', '<<< 550 ...': a reply code inside the first line. */
function leadingReply(text: string): number | undefined {
  const m = /(?:^|[\s#:'"(])([45]\d\d)[ -](?:[45]\.\d{1,3}\.\d{1,3}|[a-z<])/.exec(text.slice(0, 600));
  return m ? Number(m[1]) : undefined;
}

function fromText(t: string, e: EnhancedCode | undefined): ReportReason | undefined {
  if (!t.trim()) return undefined;
  // Mailbox full is checked before the sender's problems: "over quota" never means a block.
  if (MAILBOX_FULL.test(t)) return 'mailbox_full';
  if (/gr[ea]y ?list|postgrey/.test(t)) return 'temporary';
  if (AUTH.test(t)) return 'auth_failed';
  if (RATE.test(t)) return 'rate_limited';
  if (REPUTATION.test(t)) return 'reputation_blocked';
  if (TOO_BIG.test(t)) return 'message_too_big';
  // Exchange Online's directory-based edge blocking names a missing recipient as "access denied".
  if ((e?.code === '5.4.1' && /recipient address rejected: access denied/.test(t)) || /resolver\.adr\.|recipient not found by smtp address lookup/.test(t)) return 'unknown_user';
  // Postfix check_recipient_access and similar: a rule refused it, the address may well exist.
  if (SENDER_SIDE.test(t) || /rejected: access denied/.test(t)) return 'policy';
  if (SPAM.test(t)) return 'spam_blocked';
  if (UNKNOWN_DOMAIN.test(t)) return 'unknown_domain';
  if (DISABLED.test(t)) return 'mailbox_disabled';
  if (UNKNOWN_USER.test(t)) return 'unknown_user';
  if (POLICY.test(t)) return 'policy';
  if (EXPIRED.test(t) && e?.subject !== 1) return 'expired';
  if (e === undefined && TEMPORARY.test(t)) return 'temporary';
  return undefined;
}

function fromCode(e: EnhancedCode | undefined, reply: number | undefined): ReportReason {
  if (e) {
    const { subject: s, detail: d } = e;
    if (s === 1) {
      if (d === 2 || d === 10) return d === 2 ? 'unknown_domain' : 'unknown_user';
      if (d === 6) return 'mailbox_disabled';
      if (d === 7 || d === 8) return 'policy'; // the sender's address
      return e.class === 4 ? 'temporary' : 'unknown_user';
    }
    if (s === 2) {
      if (d === 1) return 'mailbox_disabled';
      if (d === 2) return 'mailbox_full';
      if (d === 3) return 'message_too_big';
      return e.class === 4 ? 'temporary' : 'unknown';
    }
    if (s === 3 && d === 4) return 'message_too_big';
    if (s === 4) {
      if (d === 7) return 'expired';
      if (d === 4 && e.class === 5) return 'unknown_domain';
      return 'temporary';
    }
    if (s === 7) {
      if (d >= 23 && d <= 27) return 'auth_failed';
      return 'policy';
    }
    if (s === 6) return 'policy';
    if (e.class === 4) return 'temporary';
    return 'unknown';
  }
  if (reply !== undefined && reply >= 400 && reply < 500) return 'temporary';
  if (reply === 552) return 'message_too_big';
  return 'unknown';
}
