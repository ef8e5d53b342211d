import { describe, expect, it } from 'vitest';
import { containsUnstorableText, isStorableText } from './storable-text.js';

describe('storable text', () => {
  it('refuses NUL and unpaired surrogates, keeps pairs, other controls and RTL marks', () => {
    for (const bad of ['a\u0000b', '\ud800', 'x\udfff', '\udc00\ud800', 'end \ud83d']) expect(isStorableText(bad), JSON.stringify(bad)).toBe(false);
    for (const good of ['', 'plain', '😀 \ud83d\ude00', 'tab\tcr\r', '\u202eevil\u202c', '\ufeff', 'e\u0301']) expect(isStorableText(good), JSON.stringify(good)).toBe(true);
  });

  it('finds such text in any key or value at any depth, without recursion', () => {
    expect(containsUnstorableText({ a: ['ok', { b: 'x\u0000y' }] })).toBe(true);
    expect(containsUnstorableText({ ['k\ud800']: 1 })).toBe(true);
    expect(containsUnstorableText({ a: ['ok', { b: 'fine \u0001 \u202e' }], n: 1, t: true, z: null })).toBe(false);
    expect(containsUnstorableText(undefined)).toBe(false);
    let deep: unknown = '\u0000';
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(containsUnstorableText(deep)).toBe(true);
  });
});
