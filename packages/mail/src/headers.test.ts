import { describe, expect, it } from 'vitest';
import { decodeEncodedWords } from '../test/decode.js';
import { encodeWords, formatDate, formatMessageId, mailboxHeader, unstructuredHeader } from './headers.js';

function lines(field: string): string[] {
  expect(field.endsWith('\r\n')).toBe(true);
  const out = field.slice(0, -2).split('\r\n');
  out.slice(1).forEach((l) => expect(l).toMatch(/^ \S/));
  return out;
}

function valueOf(field: string, name: string): string {
  return decodeEncodedWords(field.slice(name.length + 2, -2));
}

describe('unstructuredHeader', () => {
  it('leaves short ASCII alone', () => {
    expect(unstructuredHeader('Subject', 'Hello there')).toBe('Subject: Hello there\r\n');
  });

  it('folds long ASCII at spaces within 78 columns', () => {
    const subject = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');
    const field = unstructuredHeader('Subject', subject);
    for (const l of lines(field)) expect(l.length).toBeLessThanOrEqual(78);
    expect(field.slice(9, -2).replace(/\r\n/g, '')).toBe(subject);
  });

  it('encodes non-ASCII subjects in words of at most 75 columns that round-trip', () => {
    for (const subject of ['Grüße aus Köln', '🎉 Ihre Bestellung №42 ist unterwegs — danke!', 'ж'.repeat(200), `${'a'.repeat(90)}é`]) {
      const field = unstructuredHeader('Subject', subject);
      for (const l of lines(field)) {
        expect(l.length).toBeLessThanOrEqual(78);
        expect(l).toMatch(/^[\x20-\x7e]*$/);
      }
      expect(valueOf(field, 'Subject')).toBe(subject);
    }
  });

  it('encodes an unbreakable long ASCII token rather than exceed 78 columns', () => {
    const token = `https://example.com/${'x'.repeat(150)}`;
    const field = unstructuredHeader('Subject', `See ${token}`);
    for (const l of lines(field)) expect(l.length).toBeLessThanOrEqual(78);
    expect(valueOf(field, 'Subject')).toBe(`See ${token}`);
  });

  it('encodes text that looks like an encoded word', () => {
    const field = unstructuredHeader('Subject', 'literally =?UTF-8?B?aGk=?=');
    expect(valueOf(field, 'Subject')).toBe('literally =?UTF-8?B?aGk=?=');
  });

  it('does not split a multi-byte character between words', () => {
    for (const word of encodeWords('😀'.repeat(60))) {
      const payload = /^=\?UTF-8\?B\?(.*)\?=$/.exec(word)?.[1] ?? '';
      expect(Buffer.from(payload, 'base64').toString('utf8')).toMatch(/^(?:😀)+$/u);
    }
  });

  it('rejects CR, LF and control characters', () => {
    for (const bad of ['a\r\nBcc: x@y.com', 'a\nb', 'a\rb', 'a\u0000b', 'a\u001bb', 'a\u007fb']) {
      expect(() => unstructuredHeader('Subject', bad)).toThrow(expect.objectContaining({ code: 'header_injection' }));
    }
    expect(unstructuredHeader('Subject', 'a\tb')).toBe('Subject: a\tb\r\n');
  });
});

describe('mailboxHeader', () => {
  it('writes bare, plain, quoted and encoded names', () => {
    expect(mailboxHeader('From', 'a@example.com')).toBe('From: a@example.com\r\n');
    expect(mailboxHeader('From', 'a@example.com', null)).toBe('From: a@example.com\r\n');
    expect(mailboxHeader('From', 'a@example.com', 'Alice Smith')).toBe('From: Alice Smith <a@example.com>\r\n');
    expect(mailboxHeader('From', 'a@example.com', 'Smith, Alice (Sales)')).toBe(
      'From: "Smith, Alice (Sales)" <a@example.com>\r\n',
    );
    expect(mailboxHeader('From', 'a@example.com', 'Say "hi" \\o/')).toBe('From: "Say \\"hi\\" \\\\o/" <a@example.com>\r\n');
    const field = mailboxHeader('From', 'a@example.com', 'Zoë Ångström');
    expect(field).toMatch(/^From: =\?UTF-8\?[BQ]\?[^\r\n]+\?= <a@example\.com>\r\n$/);
    expect(decodeEncodedWords(field.slice(6, field.indexOf(' <')))).toBe('Zoë Ångström');
  });

  it('keeps long encoded names within 78 columns', () => {
    const field = mailboxHeader('From', 'someone.with.a.long.address@example.com', 'Ü'.repeat(80));
    for (const l of lines(field)) expect(l.length).toBeLessThanOrEqual(78);
  });

  it('rejects control characters in names', () => {
    expect(() => mailboxHeader('From', 'a@example.com', 'Eve\r\nBcc: x@y.com')).toThrow(
      expect.objectContaining({ code: 'header_injection' }),
    );
  });
});

describe('formatDate and formatMessageId', () => {
  it('formats RFC 5322 dates in UTC', () => {
    expect(formatDate(new Date('2024-03-05T09:04:05.678Z'))).toBe('Tue, 05 Mar 2024 09:04:05 +0000');
    expect(formatDate(new Date('1999-12-31T23:59:59Z'))).toBe('Fri, 31 Dec 1999 23:59:59 +0000');
    expect(() => formatDate(new Date('nope'))).toThrow(expect.objectContaining({ code: 'invalid_date' }));
  });

  it('builds a Message-ID from our id', () => {
    expect(formatMessageId('msg_01J9ZX', 'Mail.Example.com')).toBe('<msg_01J9ZX@mail.example.com>');
    expect(() => formatMessageId('msg 1', 'example.com')).toThrow(expect.objectContaining({ code: 'invalid_message_id' }));
    expect(() => formatMessageId('msg>1', 'example.com')).toThrow(expect.objectContaining({ code: 'invalid_message_id' }));
    expect(() => formatMessageId('msg_1', 'exa mple.com')).toThrow(expect.objectContaining({ code: 'invalid_message_id' }));
    expect(() => formatMessageId('msg_1\r\n', 'example.com')).toThrow(expect.objectContaining({ code: 'header_injection' }));
  });
});
