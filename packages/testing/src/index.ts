export { testNamespace, sharedNatsUrl, sharedPostgresUrl, type TestNamespace } from './namespace.js';
export { freePort } from './ports.js';
export { waitFor, sleep, type WaitForOptions } from './wait.js';
export { startNatsServer, type NatsServer, type NatsServerOptions } from './nats-server.js';
export { createTestDatabase, type TestDatabase, type TestDatabaseOptions } from './database.js';
export { startPostgresServer, type PostgresServer } from './postgres-server.js';
export { startSmtpSink, type SmtpSink, type SmtpSinkOptions, type SmtpSinkBehavior, type TransactionSpan } from './smtp-sink.js';
export { startMailServer, mailServerAvailable, type MailServer, type MailServerOptions, type MailServerUser } from './mail-server.js';
export {
  parseMessageId,
  type SmtpReply,
  type SmtpTransaction,
  type SmtpRejection,
  type SmtpSessionInfo,
} from './smtp-records.js';
export {
  startGmailStandin,
  type GmailStandin,
  type GmailStandinOptions,
  type GmailStandinUser,
  type GmailStandinRequest,
  type FailNextOptions,
} from './gmail-standin.js';
export { type GmailFailureKind, type GmailStandinCall } from './gmail-standin-errors.js';
export { type GmailStoredMessage } from './gmail-standin-mailbox.js';
export {
  createServiceAccountKey,
  GMAIL_SEND_SCOPE,
  GMAIL_READONLY_SCOPE,
  GMAIL_METADATA_SCOPE,
  GMAIL_MODIFY_SCOPE,
  GMAIL_COMPOSE_SCOPE,
  GMAIL_FULL_SCOPE,
  type ServiceAccountKeyFile,
} from './gmail-standin-auth.js';
export * from './platform.js';
export * from './environment.js';
export { RawSmtpClient, type RawReply } from './raw-smtp-client.js';
export * from './random.js';
