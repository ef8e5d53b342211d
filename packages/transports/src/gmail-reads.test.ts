import { describe, expect, it } from 'vitest';
import { addedMessages, decodeRaw, readPages } from './gmail-reads.js';

describe('addedMessages', () => {
  it('lists the messages added, in record order, each once at its first record', () => {
    const records = [
      { id: '101', messagesAdded: [{ message: { id: 'a' } }, { message: { id: 'b' } }] },
      { id: '102', messages: [{ id: 'x' }] }, // a label change: nothing added
      { id: '103', messagesAdded: [{ message: { id: 'a' } }, { message: { id: 'c' } }] },
      { messagesAdded: [{ message: { id: 'no-record-id' } }] },
      { id: '104', messagesAdded: [{ message: {} }, {}] },
    ];
    expect(addedMessages(records)).toEqual([
      { id: 'a', historyId: '101' },
      { id: 'b', historyId: '101' },
      { id: 'c', historyId: '103' },
    ]);
  });
});

describe('decodeRaw', () => {
  it('decodes URL-safe base64 to the exact bytes', () => {
    const bytes = Buffer.from([0xfb, 0xff, 0x3e, 0x0d, 0x0a, 0x00]);
    expect(decodeRaw(bytes.toString('base64url'), 100)).toEqual({ raw: bytes, truncated: false });
  });

  it('cuts at the size asked for and says so', () => {
    const { raw, truncated } = decodeRaw(Buffer.from('x'.repeat(50)).toString('base64url'), 10);
    expect(raw.toString()).toBe('x'.repeat(10));
    expect(truncated).toBe(true);
  });

  it('reads a missing raw as empty', () => {
    expect(decodeRaw(undefined, 10)).toEqual({ raw: Buffer.alloc(0), truncated: false });
  });
});

describe('readPages', () => {
  const pages = ['p1', 'p2', 'p3'];
  const fetch = async (token: string | undefined) => {
    const i = token ? Number(token) : 0;
    return { page: pages[i]!, nextPageToken: i + 1 < pages.length ? String(i + 1) : null };
  };

  it('follows page tokens to the end', async () => {
    const r = await readPages(10, fetch);
    expect(r.pages.map((p) => p.page)).toEqual(['p1', 'p2', 'p3']);
    expect(r.more).toBe(false);
  });

  it('stops at the bound and says more are waiting', async () => {
    const r = await readPages(2, fetch);
    expect(r.pages.map((p) => p.page)).toEqual(['p1', 'p2']);
    expect(r.more).toBe(true);
  });
});
