export { FeedbackPoller, type PollerDeps, type PollerOptions } from './poller.js';
export { processReportMail, reconcileOutbox, type ProcessResult, type ProcessorDeps, type ReportMail, type UnsubscribeTokens } from './processor.js';
export { readNewMessages, type ImapSettings, type MailboxMessage } from './adapters/imap.js';
export { rateFaults, DEFAULT_THRESHOLDS, type RateThresholds, type RateFault } from './domain/rates.js';
export { decideBounce, decideComplaint, scrubDiagnostic, ourMessageId } from './domain/decide.js';
