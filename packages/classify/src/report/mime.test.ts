import { describe, expect, it } from 'vitest';
import { decodeQuotedPrintable, decodeWords, parseContentType, parseHeaders, splitMultipart, walk } from './mime.js';
import { parseDeliveryStatus } from './fields.js';

describe('mime walker', () => {
  it('unfolds headers and skips lines that are not headers', () => {
    const h = parseHeaders('From Example.COM Thu Apr 29 2013\nSubject: a\n b\n\tc\nX-Bad line\nTo: x@example.com');
    expect(h).toEqual([
      { name: 'subject', value: 'a b c' },
      { name: 'to', value: 'x@example.com' },
    ]);
  });

  it('reads content types with quoted parameters', () => {
    expect(parseContentType('multipart/report; report-type="delivery-status";\n boundary="a;b=c"', 'text/plain')).toEqual({
      type: 'multipart/report',
      params: { 'report-type': 'delivery-status', boundary: 'a;b=c' },
    });
    expect(parseContentType('garbage', 'text/plain').type).toBe('text/plain');
  });

  it('decodes RFC 2047 words, base64 and quoted-printable', () => {
    expect(decodeWords('=?UTF-8?B?w6l0w6k=?= =?ISO-8859-1?Q?caf=E9_au_lait?=')).toBe('étécafé au lait');
    expect(decodeWords('=?bogus?X?abc?=')).toBe('=?bogus?X?abc?=');
    expect(new TextDecoder().decode(decodeQuotedPrintable('a=3Db=\nc =C3=A9'))).toBe('a=bc é');
  });

  it('splits nested multiparts, tolerating a missing close', () => {
    expect(splitMultipart('pre\n--b\nA\n--b \nB\n--b--\nafter', 'b')).toEqual(['A', 'B']);
    expect(splitMultipart('--b\nA\n--bb\nstill A', 'b')).toEqual(['A\n--bb\nstill A']);
    const mail = [
      'Content-Type: multipart/mixed; boundary=outer',
      '',
      '--outer',
      'Content-Type: multipart/alternative; boundary=inner',
      '',
      '--inner',
      'Content-Type: text/plain',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('hello').toString('base64'),
      '--inner--',
      '--outer',
      'Content-Type: message/rfc822',
      '',
      'Message-ID: <x@y>',
      '',
      'body',
    ].join('\n');
    const { root, truncated } = walk(mail);
    expect(truncated).toBe(false);
    expect(root.parts[0]?.parts[0]?.body.trim()).toBe('hello');
    expect(root.parts[1]?.message?.headers).toEqual([{ name: 'message-id', value: '<x@y>' }]);
  });

  it('caps depth and part count', () => {
    let nested = 'text';
    for (let i = 0; i < 40; i++) nested = `Content-Type: multipart/mixed; boundary=b${i}\n\n--b${i}\n${nested}\n--b${i}--`;
    expect(walk(nested).truncated).toBe(true);
    const many = `Content-Type: multipart/mixed; boundary=z\n\n${'--z\n\nx\n'.repeat(1000)}--z--`;
    const w = walk(many);
    expect(w.truncated).toBe(true);
    expect(w.root.parts.length).toBeLessThan(200);
  });

  it('reads RFC 3464 per-message and per-recipient groups', () => {
    const dsn = parseDeliveryStatus('Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; a@x\nAction: failed\nStatus: 5.1.1\n\n\nFinal-Recipient: rfc822; b@x\nAction: delayed\nStatus: 4.4.7\n');
    expect(dsn.perMessage['reporting-mta']).toBe('dns; mx.example');
    expect(dsn.recipients.map((r) => [r['final-recipient'], r.action])).toEqual([
      ['rfc822; a@x', 'failed'],
      ['rfc822; b@x', 'delayed'],
    ]);
  });
});
