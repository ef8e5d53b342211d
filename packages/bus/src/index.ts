export * from './connection.js';
export * from './provision.js';
export * from './publish.js';
export * from './reader.js';
export * from './consume.js';
export * from './aggregate.js';
export * from './directory.js';
export type { JsMsg, PubAck } from '@nats-io/jetstream';
