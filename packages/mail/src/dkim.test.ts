import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalBody, canonicalHeader, verifyDkim } from '../test/dkim-verify.js';
import { relaxedBody, relaxedHeader, signDkim } from './dkim.js';
import { composeCompliant, composeMessage, type CompliantComposeInput, type TokenIssuer } from './index.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const ed = generateKeyPairSync('ed25519');
const edPem = ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

const issuer: TokenIssuer = { issue: (kind, payload) => `${kind}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}` };
const input: CompliantComposeInput = {
  messageId: 'msg_01J9ZXQ8K2M4N6P8R0T2V4X6Z8',
  accountId: 'acc_1',
  from: { address: 'news@example.com', name: 'Example News' },
  to: { address: 'rcpt@example.org' },
  subject: 'Spring sale',
  text: 'Hello   there,  \nsee https://shop.example.com/sale\n\n\n',
  html: '<p>Hello <a href="https://shop.example.com/sale">sale</a></p>',
  date: new Date('2024-03-05T09:04:05Z'),
  messageIdDomain: 'example.com',
  mailType: 'bulk',
  postalAddress: 'Example Ltd, 1 Main St, Springfield',
  trackingBase: 'https://t.example.com',
  feedbackSenderId: 'postbus',
};
const bulk = composeCompliant(input, issuer).raw;
const options = { domain: 'example.com', selector: 'pb2024', privateKey: rsaPem, timestamp: new Date('2024-03-05T09:04:06Z') };

function edit(raw: Buffer, change: (text: string) => string): Buffer {
  const text = raw.toString('latin1');
  const changed = change(text);
  expect(changed).not.toBe(text);
  return Buffer.from(changed, 'latin1');
}

function verdict(raw: Buffer, key: KeyObject = rsa.publicKey): ReturnType<typeof verifyDkim> {
  return verifyDkim(raw, key);
}

describe('relaxed canonicalisation', () => {
  it('matches the example of RFC 6376 section 3.4.5, as does the test verifier', () => {
    const fields = ['A: X', 'B : Y\t\r\n\tZ  '];
    expect(fields.map(relaxedHeader).join('')).toBe('a:X\r\nb:Y Z\r\n');
    expect(fields.map(canonicalHeader).join('')).toBe('a:X\r\nb:Y Z\r\n');
    const body = ' C \r\nD \t E\r\n\r\n\r\n';
    expect(relaxedBody(body)).toBe(' C\r\nD E\r\n');
    expect(canonicalBody(body)).toBe(' C\r\nD E\r\n');
    expect(relaxedBody('')).toBe('');
    expect(relaxedBody('\r\n\r\n')).toBe('');
    expect(relaxedBody('x')).toBe('x\r\n');
  });
});

describe('signDkim', () => {
  it('signs with rsa-sha256 so that an independent verifier accepts it', () => {
    const signed = signDkim(bulk, options);
    expect(signed.subarray(signed.length - bulk.length).equals(bulk)).toBe(true);
    const text = signed.toString('latin1');
    expect(text.startsWith('DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=pb2024;')).toBe(true);
    for (const line of text.slice(0, text.indexOf('\r\nFrom:')).split('\r\n')) expect(line.length).toBeLessThanOrEqual(78);
    const v = verdict(signed);
    expect(v).toMatchObject({ ok: true, tags: { t: String(Date.parse('2024-03-05T09:04:06Z') / 1000) } });
    for (const name of ['from', 'to', 'subject', 'date', 'message-id', 'mime-version', 'content-type', 'list-unsubscribe', 'list-unsubscribe-post', 'feedback-id']) {
      expect(v.signedHeaders).toContain(name);
    }
    // Over-signed: one more From than the message has.
    expect(v.signedHeaders.filter((h) => h === 'from')).toHaveLength(2);
  });

  it('signs with ed25519-sha256 (RFC 8463)', () => {
    const signed = signDkim(bulk, { ...options, privateKey: edPem });
    expect(verdict(signed, ed.publicKey)).toMatchObject({ ok: true, tags: { a: 'ed25519-sha256' } });
    expect(verdict(signed, rsa.publicKey).ok).toBe(false);
  });

  it('accepts a KeyObject and a PKCS#1 RSA key, and omits t= without a timestamp', () => {
    const pkcs1 = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    for (const privateKey of [rsa.privateKey, pkcs1]) {
      const v = verdict(signDkim(bulk, { domain: 'example.com', selector: 's1', privateKey }));
      expect(v.ok).toBe(true);
      expect(v.tags.t).toBeUndefined();
    }
  });

  it('breaks when List-Unsubscribe, List-Unsubscribe-Post, the subject or the body change', () => {
    const signed = signDkim(bulk, options);
    const changes: Array<(t: string) => string> = [
      (t) => t.replace('List-Unsubscribe: <https://t.example.com/', 'List-Unsubscribe: <https://evil.example/'),
      (t) => t.replace('List-Unsubscribe-Post: List-Unsubscribe=One-Click', 'List-Unsubscribe-Post: List-Unsubscribe=Two-Click'),
      (t) => t.replace('Subject: Spring sale', 'Subject: Spring sales'),
      (t) => t.replace('Feedback-ID: acc_1', 'Feedback-ID: acc_2'),
      (t) => t.replace(/\r\n\r\n/, '\r\n\r\nInjected line\r\n'),
      (t) => t.replace(/Content-Type: text\/html/, 'Content-Type: text/plain'),
    ];
    for (const change of changes) expect(verdict(edit(signed, change)).ok).toBe(false);
  });

  it('breaks when a second From, or a List-Unsubscribe on mail that had none, is added', () => {
    const signed = signDkim(bulk, options);
    expect(verdict(edit(signed, (t) => t.replace('\r\nFrom:', '\r\nFrom: eve@evil.example\r\nFrom:'))).ok).toBe(false);
    const plain = composeMessage({ ...input, text: 'hi' }).raw;
    const signedPlain = signDkim(plain, options);
    expect(verdict(signedPlain).ok).toBe(true);
    const added = edit(signedPlain, (t) => t.replace('\r\nFrom:', '\r\nList-Unsubscribe: <https://evil.example/u>\r\nFrom:'));
    expect(verdict(added).ok).toBe(false);
  });

  it('survives what relaxed canonicalisation allows: refolding and blanks at line ends', () => {
    const signed = signDkim(bulk, options);
    const refolded = edit(signed, (t) => t.replace('Subject: Spring sale', 'Subject:   Spring\r\n \t sale  '));
    expect(verdict(refolded).ok).toBe(true);
    const moreBlankLines = Buffer.concat([signed, Buffer.from('\r\n\r\n')]);
    expect(verdict(moreBlankLines).ok).toBe(true);
  });

  it('signs extra headers on request, and a body of 8-bit bytes byte for byte', () => {
    const raw = Buffer.concat([Buffer.from('From: a@example.com\r\nX-Campaign: spring\r\nSubject: x\r\n\r\n'), Buffer.from([0xc3, 0xa9, 0x0d, 0x0a])]);
    const signed = signDkim(raw, { ...options, headers: ['X-Campaign'] });
    const v = verdict(signed);
    expect(v.ok).toBe(true);
    expect(v.signedHeaders).toContain('x-campaign');
    expect(verdict(edit(signed, (t) => t.replace('spring', 'summer'))).ok).toBe(false);
    expect(verdict(Buffer.concat([signed.subarray(0, -4), Buffer.from([0xc3, 0xa8, 0x0d, 0x0a])])).ok).toBe(false);
  });

  it('refuses CR or LF in its inputs, bare line ends in the message, and bad names', () => {
    const cases: Array<[Partial<typeof options> & { headers?: string[] }, string]> = [
      [{ domain: 'example.com\r\nBcc: x@evil.example' }, 'header_injection'],
      [{ selector: 'pb\n2024' }, 'header_injection'],
      [{ headers: ['X-A\r\nBcc'] }, 'header_injection'],
      [{ headers: ['X:A'] }, 'dkim_header_invalid'],
      [{ domain: 'exa mple.com' }, 'dkim_domain_invalid'],
      [{ domain: 'localhost' }, 'dkim_domain_invalid'],
      [{ selector: 'a;b' }, 'dkim_domain_invalid'],
    ];
    for (const [change, code] of cases) {
      expect(() => signDkim(bulk, { ...options, ...change })).toThrow(expect.objectContaining({ code }));
    }
    for (const bad of ['From: a@example.com\nSubject: x\r\n\r\nbody\r\n', 'From: a@example.com\r\n\r\nbo\rdy\r\n']) {
      expect(() => signDkim(Buffer.from(bad), options)).toThrow(expect.objectContaining({ code: 'dkim_message_invalid' }));
    }
  });

  it('refuses unusable keys without echoing them', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 512 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const broken = rsaPem.replace(/[A-Za-z]{10}/, 'AAAAAAAAAA');
    for (const privateKey of [small, ec, broken, 'not a key', createPublicKey(rsa.privateKey)]) {
      let error: unknown;
      try {
        signDkim(bulk, { ...options, privateKey });
      } catch (err) {
        error = err;
      }
      expect(error).toMatchObject({ code: 'dkim_key_invalid', scope: 'account' });
      const text = `${(error as Error).message}${(error as Error).stack ?? ''}${JSON.stringify(error)}`;
      if (typeof privateKey === 'string') {
        for (const line of privateKey.split('\n').filter((l) => l.length > 20)) expect(text).not.toContain(line);
      }
      expect((error as Error).cause).toBeUndefined();
    }
  });
});
