export * from './smtp.js';
export { GMAIL_SCOPES, GmailApiError, GmailHistoryExpiredError, GmailSession, GmailTransport, type GmailAccount, type GmailSendResult, type GmailTransportOptions } from './gmail.js';
export { GOOGLE_TOKEN_URI, GmailConfigError, parseServiceAccountKey, type ServiceAccountCredentials } from './gmail-credentials.js';
export { SendPacer, type PacingClock } from './pacer.js';
