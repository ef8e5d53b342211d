export { testNamespace, sharedNatsUrl, sharedPostgresUrl, type TestNamespace } from './namespace.js';
export { freePort } from './ports.js';
export { waitFor, sleep, type WaitForOptions } from './wait.js';
export { startNatsServer, type NatsServer, type NatsServerOptions } from './nats-server.js';
export { createTestDatabase, type TestDatabase, type TestDatabaseOptions } from './database.js';
export { startPostgresServer, type PostgresServer } from './postgres-server.js';
export { startSmtpSink, type SmtpSink, type SmtpSinkOptions, type SmtpSinkBehavior } from './smtp-sink.js';
export {
  parseMessageId,
  type SmtpReply,
  type SmtpTransaction,
  type SmtpRejection,
  type SmtpSessionInfo,
} from './smtp-records.js';
export * from './platform.js';
export * from './environment.js';
