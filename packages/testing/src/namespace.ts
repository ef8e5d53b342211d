import { randomBytes } from 'node:crypto';

export interface TestNamespace {
  /** `t` + 8 lowercase hex chars: prefix subjects (`${prefix}.mail.>`) and stream names (`${prefix}_MAIL`). */
  prefix: string;
}

/** A fresh namespace per test file: parallel files never share subjects or stream names. */
export function testNamespace(): TestNamespace {
  return { prefix: `t${randomBytes(4).toString('hex')}` };
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** The long-running NATS server shared by all tests (JetStream enabled). */
export function sharedNatsUrl(): string {
  return process.env.POSTBUS_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
}

/** An admin connection to the shared Postgres (trust auth); tests get their own database from it. */
export function sharedPostgresUrl(): string {
  return process.env.POSTBUS_TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/postgres';
}
