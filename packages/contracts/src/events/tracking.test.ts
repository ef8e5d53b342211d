import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { MAX_OPENS_PER_EVENT, opensRecordedEventId, type OpensRecorded, type RecordedOpen } from './tracking.js';
import { decodeEvent, encodeEvent } from './registry.js';

const open = (i: number, campaignId?: string): RecordedOpen => {
  const messageId = `msg_01J${String(i).padStart(23, '0')}`;
  return { id: `${messageId}.opened.scanner.203004050607`, messageId, occurredAt: '2030-04-05T06:07:08.901234567Z', ...(campaignId ? { campaignId } : {}), source: 'scanner' };
};
const batch = (opens: RecordedOpen[]): OpensRecorded => ({
  id: opensRecordedEventId(opens.map((o) => o.id)),
  type: 'OpensRecorded',
  version: 1,
  occurredAt: '2030-04-05T06:07:08.901Z',
  accountId: 'acc_01J0000000000000000000000A',
  data: { opens },
});

describe('OpensRecorded', () => {
  it('round-trips; its largest batch stays far under the stream’s 1 MB message limit', () => {
    const largest = batch(Array.from({ length: MAX_OPENS_PER_EVENT }, (_, i) => open(i, 'c'.repeat(64))));
    const bytes = encodeEvent(largest);
    expect(bytes.byteLength).toBeLessThan(256 * 1024);
    expect(decodeEvent(bytes)).toEqual(largest);
  });

  it('refuses an empty batch and one over the cap', () => {
    expect(() => encodeEvent(batch([]))).toThrow(ValidationError);
    expect(() => encodeEvent(batch(Array.from({ length: MAX_OPENS_PER_EVENT + 1 }, (_, i) => open(i))))).toThrow(ValidationError);
  });

  it('has an id derived from its opens: the same batch the same id, another batch another', () => {
    const ids = [open(1).id, open(2).id];
    expect(opensRecordedEventId(ids)).toBe(opensRecordedEventId([...ids]));
    expect(opensRecordedEventId(ids)).not.toBe(opensRecordedEventId([open(1).id]));
    expect(opensRecordedEventId(ids)).toMatch(/^evt_[0-9A-Z]{26}$/);
  });
});
