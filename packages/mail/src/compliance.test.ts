import { describe, expect, it } from 'vitest';
import { decodeBody, parsePart } from '../test/decode.js';
import { composeCompliant, type CompliantComposeInput, type TokenIssuer, type TrackingTokenKind } from './index.js';

// Tokens that can be read back: `kind.base64url(JSON)`. The real issuer is @postbus/secrets'
// TokenKeyring; here only what mail puts into tokens, and where, is under test.
const issued: Array<{ kind: TrackingTokenKind; payload: unknown }> = [];
const issuer: TokenIssuer = {
  issue(kind, payload) {
    issued.push({ kind, payload });
    return `${kind}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  },
};

function tokenOf(url: string): { kind: string; payload: Record<string, string> } {
  const token = url.slice(url.lastIndexOf('/') + 1);
  const [kind, data] = token.split('.') as [string, string];
  return { kind, payload: JSON.parse(Buffer.from(data, 'base64url').toString('utf8')) as Record<string, string> };
}

const bulk: CompliantComposeInput = {
  messageId: 'msg_01J9ZXQ8K2M4N6P8R0T2V4X6Z8',
  accountId: 'acc_01J9ZXQ8K2M4N6P8R0T2V4X6Z9',
  campaignId: 'spring-2024',
  from: { address: 'news@example.com', name: 'Example News' },
  to: { address: 'Ann.Reader+news@GMail.com', name: 'Ann Reader' },
  subject: 'Spring sale',
  text: 'Hello {{name}},\nsee https://shop.example.com/sale?a=1&b=2.\nCall tel:+123 or mail mailto:help@example.com\n',
  html:
    '<html><body><p>Hello {{name}}</p>' +
    '<a href="https://shop.example.com/sale?a=1&amp;b=2">Sale</a> ' +
    "<a HREF='https://shop.example.com/sale?a=1&b=2'>again</a> " +
    '<a href="mailto:help@example.com">mail</a> <a href="tel:+123">call</a> <a href="#top">top</a> ' +
    '<a href="javascript:alert(1)">js</a></body></html>',
  variables: { name: 'Ann' },
  date: new Date('2024-03-05T09:04:05Z'),
  messageIdDomain: 'mail.example.com',
  mailType: 'bulk',
  postalAddress: 'Example Ltd\n1 Main Street\nSpringfield, IL 62701',
  trackingBase: 'https://t.example.com/',
  feedbackSenderId: 'postbus',
};

const transactional: CompliantComposeInput = {
  ...bulk,
  mailType: 'transactional',
  campaignId: undefined,
  postalAddress: undefined,
};

interface Composed {
  headers: Map<string, string>;
  rawHeaders: string;
  text: string;
  html: string;
  unsubscribeUrl: string | undefined;
}

function compose(input: CompliantComposeInput): Composed {
  const result = composeCompliant(input, issuer);
  const raw = result.raw.toString('latin1');
  expect(raw).not.toMatch(/\r(?!\n)|(?<!\r)\n/);
  // eslint-disable-next-line no-control-regex -- the point: only TAB, CR, LF and printable ASCII
  expect(raw).toMatch(/^[\x09\x0d\x0a\x20-\x7e]*$/);
  for (const line of raw.split('\r\n')) expect(line.length).toBeLessThanOrEqual(998);
  const top = parsePart(raw);
  const boundary = /boundary="([^"]+)"/.exec(top.headers.get('content-type') ?? '')?.[1] as string;
  const [text, html] = top.body
    .split(`--${boundary}`)
    .slice(1, 3)
    .map((c) => decodeBody(parsePart(c.slice(2, -2))));
  return { headers: top.headers, rawHeaders: top.rawHeaders, text: text as string, html: html as string, unsubscribeUrl: result.unsubscribeUrl };
}

function expectRejected(input: Partial<CompliantComposeInput>, code: string): void {
  expect(() => composeCompliant({ ...bulk, ...input } as CompliantComposeInput, issuer)).toThrow(expect.objectContaining({ code }));
}

describe('composeCompliant: bulk mail', () => {
  const m = compose(bulk);

  it('carries one-click unsubscribe headers whose token alone can suppress', () => {
    const header = m.headers.get('list-unsubscribe') as string;
    expect(header).toMatch(/^<https:\/\/t\.example\.com\/unsubscribe\/unsub\.[A-Za-z0-9_-]+>$/);
    expect(m.headers.get('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    expect(tokenOf(header.slice(1, -1))).toEqual({
      kind: 'unsub',
      payload: { messageId: bulk.messageId, accountId: bulk.accountId, address: 'annreader@gmail.com', campaignId: 'spring-2024' },
    });
    expect(m.unsubscribeUrl).toBe(header.slice(1, -1));
  });

  it('writes Feedback-ID and keeps the header order', () => {
    expect(m.headers.get('feedback-id')).toBe(`spring-2024:${bulk.accountId}:bulk:postbus`);
    const names = m.rawHeaders.split(/\r\n(?![ \t])/).map((f) => f.slice(0, f.indexOf(':')));
    expect(names).toEqual(['From', 'To', 'Subject', 'Date', 'Message-ID', 'MIME-Version', 'List-Unsubscribe', 'List-Unsubscribe-Post', 'Feedback-ID', 'Content-Type']);
  });

  it('rewrites http(s) links in both parts, entity-decoded, one token per distinct URL', () => {
    const clicks = [...m.html.matchAll(/href=["'](https:\/\/t\.example\.com\/track\/click\/[^"']+)["']/gi)].map((x) => x[1] as string);
    expect(clicks).toHaveLength(2);
    expect(clicks[0]).toBe(clicks[1]);
    expect(tokenOf(clicks[0] as string)).toEqual({
      kind: 'click',
      // issuedAt: the compose time (Unix seconds), for telling a link scanner from a person.
      payload: { messageId: bulk.messageId, accountId: bulk.accountId, url: 'https://shop.example.com/sale?a=1&b=2', issuedAt: Date.parse('2024-03-05T09:04:05Z') / 1000 },
    });
    expect(m.text).toContain(`see ${clicks[0]}.\r\n`);
    expect(m.text).not.toContain('shop.example.com');
    expect(m.html).not.toContain('shop.example.com');
  });

  it('keeps mailto:, tel:, anchors and other schemes as they were', () => {
    for (const kept of ['href="mailto:help@example.com"', 'href="tel:+123"', 'href="#top"', 'href="javascript:alert(1)"']) {
      expect(m.html).toContain(kept);
    }
    expect(m.text).toContain('Call tel:+123 or mail mailto:help@example.com');
  });

  it('adds the postal address and a visible, untracked unsubscribe link to both parts', () => {
    expect(m.text).toMatch(
      /\r\n\r\n--\r\nExample Ltd\r\n1 Main Street\r\nSpringfield, IL 62701\r\nUnsubscribe: https:\/\/t\.example\.com\/unsubscribe\/unsub\.[A-Za-z0-9_-]+\r\n$/,
    );
    expect(m.text).toContain(`Unsubscribe: ${m.unsubscribeUrl}`);
    expect(m.html).toContain(`Example Ltd<br>1 Main Street<br>Springfield, IL 62701<br><a href="${m.unsubscribeUrl}"`);
  });

  it('puts the footer and then the open pixel before </body>', () => {
    const pixel = /<img src="(https:\/\/t\.example\.com\/track\/open\/[^"]+)" width="1" height="1" alt="" style="[^"]+">/.exec(m.html);
    expect(pixel).not.toBeNull();
    expect(tokenOf(pixel?.[1] as string)).toEqual({ kind: 'open', payload: { messageId: bulk.messageId, accountId: bulk.accountId } });
    expect(m.html.indexOf('Example Ltd')).toBeLessThan(pixel?.index as number);
    expect(m.html.endsWith('></body></html>\r\n') || m.html.endsWith('></body></html>')).toBe(true);
  });

  it('offers {{unsubscribe_url}} to templates and never tracks it', () => {
    const c = compose({ ...bulk, html: '<a href="{{unsubscribe_url}}">leave</a>', text: 'Leave: {{unsubscribe_url}}' });
    expect(c.html).toContain(`<a href="${c.unsubscribeUrl}">leave</a>`);
    expect(c.text.startsWith(`Leave: ${c.unsubscribeUrl}\r\n`)).toBe(true);
  });

  it('lets tracking be switched off, and adds the mailto: hook after the HTTPS URI', () => {
    const c = compose({ ...bulk, tracking: { opens: false, clicks: false }, unsubscribeMailto: 'mailto:unsub@example.com?subject=unsubscribe' });
    expect(c.html).not.toContain('/track/');
    expect(c.text).toContain('https://shop.example.com/sale?a=1&b=2.');
    expect(c.headers.get('list-unsubscribe')).toMatch(/^<https:\/\/[^>]+>,\r\n <mailto:unsub@example\.com\?subject=unsubscribe>$/);
    expect(c.html).toContain('Example Ltd');
  });

  it('offers the unsubscribe mailbox with the message’s own token in the subject', () => {
    const c = compose({ ...bulk, unsubscribeMailbox: 'unsubscribe@bounces.example.com' });
    const token = c.unsubscribeUrl!.split('/unsubscribe/')[1]!;
    expect(c.headers.get('list-unsubscribe')).toBe(`<${c.unsubscribeUrl}>,\r\n <mailto:unsubscribe@bounces.example.com?subject=unsubscribe%20${token}>`);
    expect(() => compose({ ...bulk, unsubscribeMailbox: 'not an address\r\nBcc: x@y.z' })).toThrow();
  });

  it('uses a separate unsubscribe base when given, and leaves over-long URLs untracked', () => {
    const long = `https://shop.example.com/${'x'.repeat(2100)}`;
    const c = compose({ ...bulk, unsubscribeBase: 'https://u.example.com/mail', text: `Long: ${long}\n` });
    expect(c.unsubscribeUrl).toMatch(/^https:\/\/u\.example\.com\/mail\/unsubscribe\//);
    expect(c.text).toContain(long);
  });

  it('requires a postal address', () => {
    expectRejected({ postalAddress: undefined }, 'postal_address_required');
    expectRejected({ postalAddress: ' \n ' }, 'postal_address_required');
    expectRejected({ postalAddress: 'x'.repeat(501) }, 'postal_address_invalid');
  });
});

describe('composeCompliant: transactional mail', () => {
  it('adds no unsubscribe headers, footer, pixel or tracked links unless asked', () => {
    const m = compose(transactional);
    expect(m.headers.has('list-unsubscribe')).toBe(false);
    expect(m.headers.has('list-unsubscribe-post')).toBe(false);
    expect(m.headers.get('feedback-id')).toBe(`${bulk.accountId}:transactional:postbus`);
    expect(m.html).not.toContain('/track/');
    expect(m.html).toContain('href="https://shop.example.com/sale?a=1&amp;b=2"');
    expect(m.text).not.toContain('Unsubscribe');
    expect(m.unsubscribeUrl).toBeUndefined();
  });

  it('adds each piece when asked', () => {
    const m = compose({
      ...transactional,
      tracking: { opens: true, clicks: true },
      unsubscribe: true,
      footer: true,
      postalAddress: 'Example Ltd, Springfield',
      unsubscribeLabel: 'Abmelden',
    });
    expect(m.headers.get('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    expect(m.html).toContain('/track/open/');
    expect(m.html).toContain('/track/click/');
    expect(m.text).toContain(`Example Ltd, Springfield\r\nAbmelden: ${m.unsubscribeUrl}`);
    expect(tokenOf(m.unsubscribeUrl as string).payload.campaignId).toBeUndefined();
  });

  it('needs a postal address for a footer', () => {
    expect(() => composeCompliant({ ...transactional, footer: true }, issuer)).toThrow(
      expect.objectContaining({ code: 'postal_address_required' }),
    );
  });
});

describe('composeCompliant: hostile input', () => {
  it('refuses CR and LF in every new header input', () => {
    const crlf = '\r\nBcc: victim@example.net';
    expectRejected({ trackingBase: `https://t.example.com${crlf}` }, 'header_injection');
    expectRejected({ unsubscribeBase: `https://u.example.com\n` }, 'header_injection');
    expectRejected({ feedbackSenderId: `postbus${crlf}` }, 'header_injection');
    expectRejected({ campaignId: `spring${crlf}` }, 'header_injection');
    expectRejected({ accountId: `acc_1${crlf}` }, 'header_injection');
    expectRejected({ unsubscribeMailto: `mailto:u@example.com${crlf}` }, 'header_injection');
    expectRejected({ unsubscribeMailto: 'mailto:u@example.com\r' }, 'header_injection');
    expectRejected({ to: { address: `rcpt@example.org${crlf}` } }, 'header_injection');
    expectRejected({ unsubscribeLabel: `Leave${crlf}` }, 'unsubscribe_label_invalid');
  });

  it('refuses an unsubscribe URL too long for one header line', () => {
    const huge: TokenIssuer = { issue: () => 'x'.repeat(1000) };
    expect(() => composeCompliant(bulk, huge)).toThrow(expect.objectContaining({ code: 'header_too_long' }));
  });

  it('keeps Feedback-ID fields free of colons and oddities', () => {
    expectRejected({ campaignId: 'spring:summer' }, 'feedback_id_invalid');
    expectRejected({ feedbackSenderId: 'post bus' }, 'feedback_id_invalid');
    expectRejected({ feedbackSenderId: '' }, 'feedback_id_invalid');
    expectRejected({ accountId: 'acc;1' }, 'feedback_id_invalid');
  });

  it('refuses tracking bases that are not plain https URLs', () => {
    for (const trackingBase of [
      'http://t.example.com',
      'javascript:alert(1)',
      't.example.com',
      'https://t.example.com/?x=1',
      'https://t.example.com/#x',
      'https://user:pw@t.example.com',
      "https://t.example.com/a'b",
      `https://t.example.com/${'a'.repeat(200)}`,
    ]) {
      expectRejected({ trackingBase }, 'tracking_base_invalid');
    }
    expect(() => composeCompliant({ ...bulk, trackingBase: 'http://localhost:3000' }, issuer)).not.toThrow();
    expectRejected({ unsubscribeMailto: 'https://u.example.com' }, 'unsubscribe_mailto_invalid');
    expectRejected({ unsubscribeMailto: 'mailto:a@example.com>, <https://evil.example' }, 'unsubscribe_mailto_invalid');
    expectRejected({ mailType: 'marketing' as 'bulk' }, 'mail_type_invalid');
  });

  it('keeps a hostile postal address inside the body, escaped in html', () => {
    const postalAddress = 'Evil Ltd\r\nBcc: victim@example.net\r\n\r\n<script>x()</script>\r\n.\r\n--=_pb_x';
    const m = compose({ ...bulk, postalAddress });
    expect(m.headers.has('bcc')).toBe(false);
    expect(m.text).toContain('Evil Ltd\r\nBcc: victim@example.net\r\n<script>x()</script>\r\n.\r\n--=_pb_x\r\nUnsubscribe:');
    expect(m.html).toContain('Evil Ltd<br>Bcc: victim@example.net<br>&lt;script&gt;x()&lt;/script&gt;<br>.<br>--=_pb_x<br>');
    expect(m.html).not.toContain('<script>');
    expectRejected({ postalAddress: 'Evil\u0000Ltd' }, 'postal_address_invalid');
    expectRejected({ postalAddress: 'Evil\u001b[2JLtd' }, 'postal_address_invalid');
  });

  it('never issues a click token for a non-http(s) link and drops nothing from the message', () => {
    issued.length = 0;
    compose({ ...bulk, html: '<a href="data:text/html,x">d</a><a href="vbscript:x">v</a><a href=" HTTPS://A.example/ok ">ok</a>', text: 'x' });
    const urls = issued.filter((i) => i.kind === 'click').map((i) => (i.payload as { url: string }).url);
    expect(urls).toEqual(['https://a.example/ok']);
  });
});
