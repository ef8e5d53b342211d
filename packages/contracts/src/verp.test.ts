import { describe, expect, it } from 'vitest';
import { verpAddress, verpMessageId } from './verp.js';

describe('VERP', () => {
  const id = 'msg_01J9ZXQ8K2M4N6P8R0T2V4X6Z8';
  it('names the message in the envelope sender and finds it again, whatever the case', () => {
    const a = verpAddress('news@sender.example', id);
    expect(a).toBe('news+pb-01j9zxq8k2m4n6p8r0t2v4x6z8@sender.example');
    expect(verpMessageId(a)).toBe(id);
    expect(verpMessageId(`To: <${a.toUpperCase()}>`)).toBe(id);
    expect(verpMessageId('Delivered-To: news@sender.example')).toBeUndefined();
  });
  it('keeps the plain address when the local part would be too long or the id is not ours', () => {
    expect(verpAddress(`${'x'.repeat(40)}@sender.example`, id)).toBe(`${'x'.repeat(40)}@sender.example`);
    expect(verpAddress('news@sender.example', 'other')).toBe('news@sender.example');
  });
});
