export { classifySmtpReply, isRetryable } from './classify.js';
export { parseEnhancedCode, parseReplyCode } from './codes.js';
export {
  REASONS,
  type Classification,
  type ClassificationScope,
  type EnhancedCode,
  type Reason,
  type SmtpPhase,
  type SmtpReplyInput,
} from './types.js';
