import { describe, expect, it } from 'vitest';
import { decodeQuotedPrintable } from '../test/decode.js';
import { chooseTransferEncoding, encodeBase64, encodeQuotedPrintable } from './body.js';

function expectWellFormed(encoded: string): void {
  expect(encoded).not.toMatch(/\r(?!\n)|(?<!\r)\n/);
  for (const line of encoded.split('\r\n')) {
    expect(line.length).toBeLessThanOrEqual(76);
    expect(line).toMatch(/^[\x21-\x7e \t]*$/);
    expect(line).not.toMatch(/[ \t]$/);
  }
}

function roundTrip(text: string): string {
  const encoded = encodeQuotedPrintable(text);
  expectWellFormed(encoded);
  expect(decodeQuotedPrintable(encoded)).toBe(text.replace(/\r\n|\r|\n/g, '\r\n'));
  return encoded;
}

describe('encodeQuotedPrintable', () => {
  it('copies plain ASCII lines unchanged', () => {
    expect(roundTrip('Hello world,\nplain text.\n')).toBe('Hello world,\r\nplain text.\r\n');
  });

  it('normalises LF, CR and CRLF to CRLF', () => {
    expect(roundTrip('a\nb\r\nc\rd')).toBe('a\r\nb\r\nc\r\nd');
    expect(roundTrip('\n\n')).toBe('\r\n\r\n');
  });

  it('escapes equals signs', () => {
    expect(roundTrip('a=b')).toBe('a=3Db');
    expect(roundTrip('x == y=')).toBe('x =3D=3D y=3D');
  });

  it('escapes trailing spaces and tabs, keeping inner ones', () => {
    expect(roundTrip('hello   \nworld\t\n')).toBe('hello  =20\r\nworld=09\r\n');
    expect(roundTrip('a \t b')).toBe('a \t b');
    expect(roundTrip(' ')).toBe('=20');
  });

  it("protects a line that is just '.' or starts with one", () => {
    expect(roundTrip('before\n.\nafter')).toBe('before\r\n=2E\r\nafter');
    expect(roundTrip('.hidden')).toBe('=2Ehidden');
  });

  it('soft-breaks long lines at 76 columns', () => {
    const long = 'x'.repeat(5000);
    const encoded = roundTrip(long);
    expect(encoded.split('\r\n')[0]).toBe(`${'x'.repeat(75)}=`);
    expect(roundTrip('y'.repeat(76))).toBe('y'.repeat(76));
    expect(roundTrip('y'.repeat(77)).split('\r\n')).toEqual([`${'y'.repeat(75)}=`, 'yy']);
  });

  it('never splits an escape across a soft break', () => {
    for (let pad = 70; pad < 78; pad++) roundTrip(`${'a'.repeat(pad)}=é=ü${'b'.repeat(pad)} `);
  });

  it('does not let a soft break expose a leading dot', () => {
    const encoded = roundTrip(`${'a'.repeat(75)}.${'b'.repeat(10)}`);
    expect(encoded.split('\r\n')[1]?.startsWith('=2E')).toBe(true);
  });

  it('encodes UTF-8 bytes', () => {
    expect(roundTrip('Grüße 👋')).toBe('Gr=C3=BC=C3=9Fe =F0=9F=91=8B');
  });

  it('round-trips random lines of dots, blanks, equals signs and non-ASCII', () => {
    const alphabet = ['a', 'Z', '.', ' ', '\t', '=', 'é', '€', '😀', '~', '\ud800'];
    let seed = 42;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let n = 0; n < 300; n++) {
      let line = '';
      const len = Math.floor(next() * 200);
      for (let k = 0; k < len; k++) line += alphabet[Math.floor(next() * alphabet.length)] as string;
      const encoded = encodeQuotedPrintable(line);
      expectWellFormed(encoded);
      for (const l of encoded.split('\r\n')) expect(l.startsWith('.')).toBe(false);
      expect(decodeQuotedPrintable(encoded)).toBe(Buffer.from(line, 'utf8').toString('utf8'));
    }
  });

  it('handles the empty string', () => {
    expect(roundTrip('')).toBe('');
  });
});

describe('encodeBase64 and chooseTransferEncoding', () => {
  it('wraps at 76 and round-trips with CRLF', () => {
    const text = 'Привет, мир!\n'.repeat(40);
    const encoded = encodeBase64(text);
    for (const line of encoded.split('\r\n')) expect(line.length).toBeLessThanOrEqual(76);
    expect(Buffer.from(encoded.replace(/\r\n/g, ''), 'base64').toString('utf8')).toBe(text.replace(/\n/g, '\r\n'));
  });

  it('prefers base64 only for mostly non-ASCII text', () => {
    expect(chooseTransferEncoding('Hello, Grüße from Zürich')).toBe('quoted-printable');
    expect(chooseTransferEncoding('Привет, как дела?')).toBe('base64');
    expect(chooseTransferEncoding('こんにちは')).toBe('base64');
    expect(chooseTransferEncoding('')).toBe('quoted-printable');
  });
});
