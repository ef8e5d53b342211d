export { FeedbackPoller, type PollerDeps, type PollerOptions } from './poller.js';
export { imapSource, processReport, processReportMail, reconcileOutbox, type ProcessResult, type ProcessorDeps, type ReportMail, type ReportRecord, type ReportSource, type UnsubscribeTokens } from './processor.js';
export { GmailPoller, gmailSource, type GmailPollerDeps, type GmailPollerOptions } from './gmail-poller.js';
export { GmailMailboxes, type GmailMailbox, type GmailMailboxesOptions } from './adapters/gmail.js';
export { readNewMessages, type ImapSettings, type MailboxMessage } from './adapters/imap.js';
export { rateFaults, DEFAULT_THRESHOLDS, type RateThresholds, type RateFault } from './domain/rates.js';
export { decideBounce, decideComplaint, scrubDiagnostic, ourMessageId } from './domain/decide.js';
