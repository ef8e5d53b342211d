import { describe, expect, it } from 'vitest';
import { AddressError, addressHash, normaliseAddress, parseAddress } from './address.js';

describe('parseAddress', () => {
  it.each([
    ['Ada@Example.COM', 'Ada@example.com'],
    ['first.last+tag@sub.example.org', 'first.last+tag@sub.example.org'],
    ['user@bücher.example', 'user@xn--bcher-kva.example'],
    ["o'brien@example.ie", "o'brien@example.ie"],
  ])('accepts %s as %s', (input, address) => {
    expect(parseAddress(input).address).toBe(address);
  });

  it.each([
    ['', 'empty'],
    ['no-at-sign', 'missing_at'],
    ['a@b', 'bad_domain'],
    ['a..b@example.com', 'bad_local_part'],
    ['.a@example.com', 'bad_local_part'],
    ['"quoted"@example.com', 'bad_local_part'],
    ['a@-bad-.example', 'bad_domain'],
    ['a@example.123', 'bad_domain'],
    ['x@example.com\r\nBcc: victim@example.com', 'control_characters'],
    [`${'a'.repeat(65)}@example.com`, 'bad_local_part'],
    ['ünïcode@example.com', 'bad_local_part'],
  ])('refuses %j (%s)', (input, problem) => {
    expect(() => parseAddress(input)).toThrow(AddressError);
    try {
      parseAddress(input);
    } catch (err) {
      expect((err as AddressError).problem).toBe(problem);
    }
  });
});

describe('normaliseAddress (the suppression key)', () => {
  it('ignores case everywhere', () => {
    expect(normaliseAddress('Ada.Lovelace@Example.COM')).toBe('ada.lovelace@example.com');
  });

  it('maps the many spellings of one Gmail mailbox to one key, and leaves other providers’ tags alone', () => {
    const key = normaliseAddress('adalovelace@gmail.com');
    for (const v of ['Ada.Lovelace@gmail.com', 'ada.lovelace+news@googlemail.com', 'A.D.A.lovelace+x+y@GMAIL.COM']) expect(normaliseAddress(v)).toBe(key);
    expect(normaliseAddress('ada+news@example.com')).toBe('ada+news@example.com');
  });

  it('hashes the normalised form', () => {
    expect(addressHash('ADA@gmail.com').equals(addressHash('a.da+x@googlemail.com'))).toBe(true);
    expect(addressHash('ada@example.com').equals(addressHash('ada@example.org'))).toBe(false);
  });
});
