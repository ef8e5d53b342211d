export { classifySmtpReply, isRetryable } from './classify.js';
export { classifyGmailError, type GmailCall, type GmailFailureInput } from './gmail.js';
export { parseEnhancedCode, parseReplyCode } from './codes.js';
export { consumesAttempt } from './verdict.js';
export {
  REASONS,
  type Classification,
  type ClassificationScope,
  type EnhancedCode,
  type Reason,
  type SmtpPhase,
  type SmtpReplyInput,
} from './types.js';
export { classifyBounce } from './report/bounce.js';
export { parseReport } from './report/parse.js';
export {
  REPORT_REASONS,
  ReportParseError,
  type BounceInput,
  type BounceSeverity,
  type BounceVerdict,
  type ComplaintReport,
  type OriginalMessage,
  type ParsedReport,
  type RecipientReport,
  type ReportKind,
  type ReportReason,
} from './report/types.js';
