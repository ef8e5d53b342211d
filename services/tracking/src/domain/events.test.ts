import { AccountId, MessageId, checker, newId, validateEvent } from '@postbus/contracts';
import { describe, expect, it } from 'vitest';
import { clickedEvent, messageRef, minuteStamp, opensRecordedEvent, recordedOpen, suppressedEvent, suppressionEventId, unsubscribedEvent } from './events.js';

const ref = { messageId: newId('msg'), accountId: newId('acc') };
const at = new Date('2030-04-05T06:07:08.901Z');
const hash = 'ab'.repeat(32);

describe('tracking events', () => {
  it('are valid events with ids of at most 80 characters', () => {
    const events = [
      opensRecordedEvent(ref.accountId, [recordedOpen(ref, 'scanner', at)]),
      clickedEvent(ref, 'https://example.com/a', 'scanner', at),
      unsubscribedEvent(ref, hash, 'one_click', 'spring_2030', at),
      suppressedEvent({ addressHashHex: hash, createdAtMicros: 1_900_000_000_000_000, reason: 'unsubscribed', source: 'tracking' }, ref, at),
      suppressedEvent({ addressHashHex: hash, createdAtMicros: 1, reason: 'unsubscribed', source: 'tracking' }, undefined, at),
    ];
    for (const e of events) {
      expect(() => validateEvent(e)).not.toThrow();
      expect(e.id.length).toBeLessThanOrEqual(80);
    }
  });

  it('an open is one fact per message, source and minute', () => {
    const id = (source: 'human' | 'proxy', when: Date) => recordedOpen(ref, source, when).id;
    expect(minuteStamp(at)).toBe('203004050607');
    expect(recordedOpen(ref, 'human', at)).toEqual({ id: `${ref.messageId}.opened.human.203004050607`, messageId: ref.messageId, occurredAt: at.toISOString(), source: 'human' });
    expect(id('human', new Date(at.getTime() + 40_000))).toBe(id('human', at));
    expect(id('human', new Date(at.getTime() + 60_000))).not.toBe(id('human', at));
    expect(id('proxy', at)).not.toBe(id('human', at));
  });

  it('a batch of opens is one event made only of its opens: the same opens, the same event', () => {
    const other = { ...ref, messageId: newId('msg') };
    const opens = [recordedOpen(ref, 'human', new Date(at.getTime() + 5_000)), recordedOpen(other, 'proxy', at)];
    const event = opensRecordedEvent(ref.accountId, opens);
    expect(event).toMatchObject({ type: 'OpensRecorded', accountId: ref.accountId, occurredAt: opens[0]!.occurredAt, data: { opens } });
    expect(event.messageId).toBeUndefined();
    expect(opensRecordedEvent(ref.accountId, [...opens])).toEqual(event);
    expect(opensRecordedEvent(ref.accountId, opens.slice(1)).id).not.toBe(event.id);
  });

  it('a click is one fact per message, URL, source and minute', () => {
    const a = clickedEvent(ref, 'https://example.com/a', 'human', at);
    expect(a.data).toEqual({ url: 'https://example.com/a', source: 'human' });
    expect(clickedEvent(ref, 'https://example.com/a', 'human', at).id).toBe(a.id);
    expect(clickedEvent(ref, 'https://example.com/b', 'human', at).id).not.toBe(a.id);
  });

  it('an unsubscribe is one fact per message; a campaign tag that does not fit is left out', () => {
    expect(unsubscribedEvent(ref, hash, 'page', undefined, at).id).toBe(`${ref.messageId}.unsubscribed`);
    expect(unsubscribedEvent(ref, hash, 'page', 'not a tag!', at).data).toEqual({ addressHash: hash, method: 'page' });
    expect(unsubscribedEvent(ref, hash, 'page', 'c1', at).data).toEqual({ campaignId: 'c1', addressHash: hash, method: 'page' });
  });

  it('a suppression event id is derived from the row: hash and created_at', () => {
    expect(suppressionEventId(hash, 5)).toBe(suppressionEventId(hash, 5));
    expect(suppressionEventId(hash, 6)).not.toBe(suppressionEventId(hash, 5));
  });

  it('token ids that do not fit the log are refused', () => {
    expect(messageRef(ref)).toEqual(ref);
    expect(messageRef({ ...ref, accountId: 'acc.x' })).toBeUndefined();
    expect(messageRef({ ...ref, messageId: 'm1' })).toBeUndefined();
    expect(checker(MessageId).Check(ref.messageId) && checker(AccountId).Check(ref.accountId)).toBe(true);
  });
});
