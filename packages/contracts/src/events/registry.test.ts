import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { decodeEvent, encodeEvent, registerUpcaster, type PostbusEvent } from './registry.js';

const requested: PostbusEvent = {
  id: 'msg_01J00000000000000000000000.requested',
  type: 'EmailRequested',
  version: 1,
  occurredAt: '2026-11-28T10:00:00.000Z',
  messageId: 'msg_01J00000000000000000000000',
  data: { kind: 'bulk', content: { to: 'a@example.com', subject: 'Hi', text: 'Hello' }, expiresAt: '2026-12-01T10:00:00.000Z', requestedBy: 'admin' },
};

describe('events at the edge of a service', () => {
  it('round-trip through encode and decode', () => {
    expect(decodeEvent(encodeEvent(requested))).toEqual(requested);
  });

  it('refuse what is not JSON, of an unknown type, or not of its schema', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
        return 'none';
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        return (err as ValidationError).code;
      }
    };
    expect(code(() => decodeEvent('{oops'))).toBe('event_not_json');
    expect(code(() => decodeEvent(JSON.stringify({ ...requested, type: 'EmailTeleported' })))).toBe('event_unknown_type');
    expect(code(() => decodeEvent(JSON.stringify({ ...requested, data: { ...requested.data, kind: 'spam' } })))).toBe('event_invalid');
    expect(code(() => decodeEvent(JSON.stringify({ ...requested, extra: 1 })))).toBe('event_invalid');
    expect(code(() => encodeEvent({ ...requested, occurredAt: 'yesterday' }))).toBe('event_invalid');
  });

  it('refuse a CR or LF where a header would be made', () => {
    const bad = { ...requested, data: { ...requested.data, content: { ...(requested.data as { content: object }).content, subject: 'Hi\r\nBcc: x@y.z' } } };
    expect(() => encodeEvent(bad as PostbusEvent)).toThrow(ValidationError);
  });
});

describe('old versions of an event', () => {
  it('are upcast to the current version when read, then validated', () => {
    // A made-up version 0 of EmailExpired that named its field `expires`.
    registerUpcaster('EmailExpired', 0, (e) => ({ ...e, version: 1, data: { expiresAt: (e.data as { expires: string }).expires } }));
    const old = { id: 'msg_01J00000000000000000000000.expired', type: 'EmailExpired', version: 0, occurredAt: '2026-11-28T10:00:00.000Z', messageId: 'msg_01J00000000000000000000000', data: { expires: '2026-11-28T09:00:00.000Z' } };
    expect(decodeEvent(JSON.stringify(old))).toMatchObject({ version: 1, data: { expiresAt: '2026-11-28T09:00:00.000Z' } });
  });
});
