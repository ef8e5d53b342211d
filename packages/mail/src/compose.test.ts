import { describe, expect, it } from 'vitest';
import { decodeBody, decodeEncodedWords, parsePart } from '../test/decode.js';
import { composeMessage, type ComposeInput } from './index.js';

const base: ComposeInput = {
  messageId: 'msg_01J9ZXQ8K2M4N6P8R0T2V4X6Z8',
  from: { address: 'sender@example.com', name: 'Postbus Sender' },
  to: { address: 'rcpt@example.org', name: 'Ann Reader' },
  subject: 'Hello',
  text: 'Hi there.\n',
  date: new Date('2024-03-05T09:04:05Z'),
  messageIdDomain: 'mail.example.com',
};

function compose(overrides: Partial<ComposeInput> = {}): { raw: string; result: ReturnType<typeof composeMessage> } {
  const result = composeMessage({ ...base, ...overrides });
  const raw = result.raw.toString('latin1');
  // Every line ends in CRLF, is ASCII, and fits SMTP's 998-octet limit.
  expect(raw).not.toMatch(/\r(?!\n)|(?<!\r)\n/);
  // eslint-disable-next-line no-control-regex -- the point: only TAB, CR, LF and printable ASCII
  expect(raw).toMatch(/^[\x09\x0d\x0a\x20-\x7e]*$/);
  expect(raw.endsWith('\r\n')).toBe(true);
  for (const line of raw.split('\r\n')) expect(line.length).toBeLessThanOrEqual(998);
  return { raw, result };
}

function expectRejected(overrides: Partial<ComposeInput>, code = 'header_injection'): void {
  expect(() => composeMessage({ ...base, ...overrides })).toThrow(expect.objectContaining({ code }));
}

describe('composeMessage', () => {
  it('writes the headers in order, then a quoted-printable text body', () => {
    const { raw, result } = compose({ replyTo: 'replies@example.com', headers: { 'X-Campaign': 'spring' } });
    const { rawHeaders, headers } = parsePart(raw);
    expect(rawHeaders.split('\r\n')).toEqual([
      'From: Postbus Sender <sender@example.com>',
      'To: Ann Reader <rcpt@example.org>',
      'Reply-To: replies@example.com',
      'Subject: Hello',
      'Date: Tue, 05 Mar 2024 09:04:05 +0000',
      'Message-ID: <msg_01J9ZXQ8K2M4N6P8R0T2V4X6Z8@mail.example.com>',
      'MIME-Version: 1.0',
      'X-Campaign: spring',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
    ]);
    expect(decodeBody(parsePart(raw))).toBe('Hi there.\r\n');
    expect(headers.get('message-id')).toBe(result.headerMessageId);
    expect(result.envelope).toEqual({ from: 'sender@example.com', to: ['rcpt@example.org'] });
  });

  it('keeps the Message-ID stable across retries and distinct across messages', () => {
    const a = compose().result.headerMessageId;
    expect(compose().result.headerMessageId).toBe(a);
    expect(compose({ messageId: 'msg_01J9ZXQ8K2M4N6P8R0T2V4X6Z9' }).result.headerMessageId).not.toBe(a);
    expect(a).toMatch(/^<msg_[0-9A-Z]+@mail\.example\.com>$/);
  });

  it('writes an html-only message', () => {
    const { raw } = compose({ text: undefined, html: '<p>Hi</p>' });
    const part = parsePart(raw);
    expect(part.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(decodeBody(part)).toBe('<p>Hi</p>\r\n');
  });

  it('writes multipart/alternative with a boundary found in neither part', () => {
    const text = 'Plain =_pb_ and --=_pb_ and dots\n.\n';
    const html = '<p>Grüße</p>\n<p>=_pb_</p>';
    const { raw } = compose({ text, html });
    const top = parsePart(raw);
    const boundary = /^multipart\/alternative; boundary="([^"]+)"$/.exec(top.headers.get('content-type') ?? '')?.[1];
    expect(boundary).toMatch(/^=_pb_[A-Za-z0-9_-]{22}$/);
    const chunks = top.body.split(`--${boundary}`);
    expect(chunks).toHaveLength(4);
    expect(chunks[0]).toBe('');
    expect(chunks[3]).toBe('--\r\n');
    const [plain, rich] = [parsePart((chunks[1] as string).slice(2, -2)), parsePart((chunks[2] as string).slice(2, -2))];
    expect(plain.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(rich.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(decodeBody(plain)).toBe(text.replace(/\n/g, '\r\n'));
    expect(decodeBody(rich)).toBe(html.replace(/\n/g, '\r\n'));
    expect(compose({ text, html }).raw).not.toContain(boundary);
  });

  it('substitutes variables, escaping them in html only', () => {
    const { raw } = compose({
      subject: 'Hi {{ name }}{{unknown}}',
      text: 'Name: {{name}}',
      html: '<b>{{name}}</b>',
      variables: { name: 'Tom & <Jerry>' },
    });
    const top = parsePart(raw);
    expect(top.headers.get('subject')).toBe('Hi Tom & <Jerry>');
    const boundary = /boundary="([^"]+)"/.exec(top.headers.get('content-type') ?? '')?.[1] as string;
    const parts = top.body.split(`--${boundary}`).slice(1, 3).map((c) => parsePart(c.slice(2, -2)));
    expect(parts.map(decodeBody)).toEqual(['Name: Tom & <Jerry>', '<b>Tom &amp; &lt;Jerry&gt;</b>']);
  });

  it('encodes non-ASCII subjects and names', () => {
    const subject = 'Ihre Bestellung — Grüße aus Köln 🎉 '.repeat(4).trim();
    const { raw } = compose({ subject, from: { address: 'sender@example.com', name: 'Zoë Ångström' } });
    const top = parsePart(raw);
    expect(decodeEncodedWords(top.headers.get('subject') ?? '')).toBe(subject);
    expect(decodeEncodedWords(top.headers.get('from') ?? '')).toBe('Zoë Ångström <sender@example.com>');
    for (const line of top.rawHeaders.split('\r\n')) expect(line.length).toBeLessThanOrEqual(78);
  });

  it('round-trips long lines, trailing spaces, equals signs, lone dots and CR/LF mixes', () => {
    const text = `${'long '.repeat(400)}\ntrailing   \nx = y == z\n.\n..\r\nold mac\rend`;
    const { raw } = compose({ text });
    const part = parsePart(raw);
    for (const line of part.body.split('\r\n')) expect(line.length).toBeLessThanOrEqual(76);
    expect(part.body.split('\r\n')).toContain('=2E');
    expect(decodeBody(part)).toBe(`${text.replace(/\r\n|\r|\n/g, '\r\n')}\r\n`);
  });

  it('uses base64 for mostly non-ASCII bodies', () => {
    const text = 'Здравствуйте! Ваш заказ отправлен.\n'.repeat(30);
    const part = parsePart(compose({ text }).raw);
    expect(part.headers.get('content-transfer-encoding')).toBe('base64');
    expect(decodeBody(part)).toBe(text.replace(/\n/g, '\r\n'));
  });

  it('rejects header injection everywhere', () => {
    expectRejected({ subject: 'Hi\r\nBcc: victim@example.net' });
    expectRejected({ subject: 'Hi {{name}}', variables: { name: 'x\nBcc: victim@example.net' } });
    expectRejected({ from: { address: 'sender@example.com', name: 'Eve\nBcc: v@example.net' } });
    expectRejected({ to: { address: 'rcpt@example.org\r\nBcc: v@example.net' } });
    expectRejected({ replyTo: 'r@example.com\nBcc: v@example.net' });
    expectRejected({ headers: { 'X-Tag': 'a\r\nBcc: v@example.net' } });
    expectRejected({ headers: { 'X-Tag\r\nBcc': 'v@example.net' } });
    expectRejected({ headers: { Bcc: 'v@example.net' } });
    expectRejected({ headers: { 'Content-Type': 'text/html' } });
    expectRejected({ headers: { 'X-Bad Name': 'x' } });
    expectRejected({ headers: { 'X-Colon:': 'x' } });
    expectRejected({ messageId: 'msg_1\r\nBcc: v@example.net' });
  });

  it('rejects bad addresses and empty messages', () => {
    expectRejected({ to: { address: 'not-an-address' } }, 'invalid_address');
    expectRejected({ from: { address: 'a b@example.com' } }, 'invalid_address');
    expectRejected({ to: { address: 'x@y.com>, other@z.com' } }, 'invalid_address');
    expectRejected({ text: undefined, html: undefined }, 'message_empty');
  });

  it('writes the envelope in ASCII for an internationalised domain', () => {
    const { raw, result } = compose({ to: { address: 'anna@bücher.example' } });
    expect(result.envelope.to).toEqual(['anna@xn--bcher-kva.example']);
    expect(parsePart(raw).headers.get('to')).toBe('anna@xn--bcher-kva.example');
  });

  it('accepts lower-case x- headers and encodes non-ASCII values', () => {
    const top = parsePart(compose({ headers: { 'x-note': 'café' } }).raw);
    expect(decodeEncodedWords(top.headers.get('x-note') ?? '')).toBe('café');
  });
});
