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
