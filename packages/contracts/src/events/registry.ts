import type { TSchema } from '@sinclair/typebox';
import { ValidationError } from '../errors.js';
import { checker } from '../schema.js';
import { accountEventSchemas, type AccountEvent } from './account.js';
import { campaignEventSchemas, type CampaignEvent } from './campaign.js';
import type { EventBase } from './envelope.js';
import { feedbackEventSchemas, type FeedbackEvent } from './feedback.js';
import { EmailRequested, EmailsQueued, EmailsSent, mailEventSchemas, type MailBatchEvent, type MailEvent } from './mail.js';
import { opsEventSchemas, type OpsEvent } from './ops.js';
import { sponsorEventSchemas, type SponsorEvent } from './sponsor.js';
import { trackingEventSchemas, type SuppressionEvent, type TrackingEvent } from './tracking.js';

export type PostbusEvent = AccountEvent | MailEvent | MailBatchEvent | EmailRequested | OpsEvent | TrackingEvent | SuppressionEvent | FeedbackEvent | SponsorEvent | CampaignEvent;
export type EventType = PostbusEvent['type'];
export type EventOf<T extends EventType> = Extract<PostbusEvent, { type: T }>;

interface Registered {
  readonly schema: TSchema;
  readonly version: number;
}

const registry = new Map<string, Registered>();
for (const schema of [...accountEventSchemas, ...mailEventSchemas, EmailsSent, EmailsQueued, EmailRequested, ...opsEventSchemas, ...trackingEventSchemas, ...feedbackEventSchemas, ...sponsorEventSchemas, ...campaignEventSchemas]) {
  const props = (schema as unknown as { properties: { type: { const: string }; version: { const: number } } }).properties;
  registry.set(props.type.const, { schema, version: props.version.const });
}

/**
 * Upcasters turn an old version of an event into the next one, so readers only ever see
 * the current shape. Keyed by `type@version`. None exist yet: every event is at version 1.
 */
type Upcaster = (event: EventBase) => EventBase;
const upcasters = new Map<string, Upcaster>();

export function registerUpcaster(type: string, fromVersion: number, up: Upcaster): void {
  upcasters.set(`${type}@${fromVersion}`, up);
}

function upcast(event: EventBase): EventBase {
  let e = event;
  const target = registry.get(e.type)?.version;
  while (target !== undefined && e.version < target) {
    const up = upcasters.get(`${e.type}@${e.version}`);
    if (!up) break;
    e = up(e);
  }
  return e;
}

/** Validates an event on its way in: JSON, a known type, the current schema (after upcasting). */
export function decodeEvent(raw: Uint8Array | string): PostbusEvent {
  let value: unknown;
  try {
    value = JSON.parse(typeof raw === 'string' ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'));
  } catch {
    throw new ValidationError('event_not_json', 'event payload is not JSON');
  }
  return validateEvent(value);
}

export function validateEvent(value: unknown): PostbusEvent {
  if (typeof value !== 'object' || value === null) throw new ValidationError('event_invalid', 'event is not an object');
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string' || !registry.has(type)) {
    throw new ValidationError('event_unknown_type', `unknown event type ${String(type).slice(0, 60)}`);
  }
  const event = upcast(value as EventBase);
  const { schema } = registry.get(type)!;
  const c = checker(schema);
  if (!c.Check(event)) {
    const first = c.Errors(event).First();
    throw new ValidationError('event_invalid', `${type}${first?.path ?? ''}: ${first?.message ?? 'invalid'}`);
  }
  return event as PostbusEvent;
}

/** Validates an event on its way out and serialises it. */
export function encodeEvent(event: PostbusEvent): Uint8Array {
  validateEvent(event);
  return Buffer.from(JSON.stringify(event));
}
