import { Type, type TSchema } from '@sinclair/typebox';
import { AccountId, EventId, IsoTime, MessageId } from '../schema.js';

/** `{ id, type, version, occurredAt, accountId?, messageId?, data }`, as in DESIGN.md. */
export function envelope<K extends string, V extends number, D extends TSchema>(type: K, version: V, data: D) {
  return Type.Object(
    {
      id: EventId,
      type: Type.Literal(type),
      version: Type.Literal(version),
      occurredAt: IsoTime,
      accountId: Type.Optional(AccountId),
      messageId: Type.Optional(MessageId),
      data,
    },
    { additionalProperties: false },
  );
}

export interface EventBase {
  readonly id: string;
  readonly type: string;
  readonly version: number;
  readonly occurredAt: string;
  readonly accountId?: string;
  readonly messageId?: string;
  readonly data: unknown;
}

