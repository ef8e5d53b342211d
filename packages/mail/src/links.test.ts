import { describe, expect, it } from 'vitest';
import { decodeHtmlEntities, rewriteHtmlLinks, rewriteTextLinks } from './links.js';

/** Rewrites every http(s) link to T(<url>) and records what it was given. */
function tracker(): { seen: string[]; rewrite: (url: string) => string | undefined } {
  const seen: string[] = [];
  return {
    seen,
    rewrite: (url) => {
      seen.push(url);
      return /^https?:/i.test(url) ? `https://t.test/c/${seen.length}` : undefined;
    },
  };
}

describe('rewriteHtmlLinks', () => {
  it('rewrites href of <a> in any quoting, case and attribute order', () => {
    const t = tracker();
    const html = [
      '<a href="https://a.example/1">1</a>',
      "<A HREF='https://a.example/2' class=x>2</A>",
      '<a class="b" href=https://a.example/3>3</a>',
      '<a\n  target="_blank"\n  href = "https://a.example/4"\n>4</a>',
      '<a title="x > y" href="https://a.example/5">5</a>',
      '<a data-x=\'a"b\' href="https://a.example/6"/>',
    ].join('\n');
    const out = rewriteHtmlLinks(html, t.rewrite);
    expect(t.seen).toEqual([1, 2, 3, 4, 5, 6].map((n) => `https://a.example/${n}`));
    expect(out).toBe(
      [
        '<a href="https://t.test/c/1">1</a>',
        "<A HREF='https://t.test/c/2' class=x>2</A>",
        '<a class="b" href="https://t.test/c/3">3</a>',
        '<a\n  target="_blank"\n  href = "https://t.test/c/4"\n>4</a>',
        '<a title="x > y" href="https://t.test/c/5">5</a>',
        '<a data-x=\'a"b\' href="https://t.test/c/6"/>',
      ].join('\n'),
    );
  });

  it('leaves other tags, other attributes and text alone', () => {
    const t = tracker();
    const html =
      '<link href="https://cdn.example/s.css"><img src="https://i.example/x.png">' +
      '<area href="https://a.example/area"><abbr href="https://a.example/abbr">x</abbr>' +
      '<a data-href="https://a.example/data">no href</a><a name="top">anchor</a>' +
      '<p>see https://a.example/text and <b>a href="https://a.example/fake"</b></p>' +
      '<img alt="<a href=https://a.example/in-attr>">';
    expect(rewriteHtmlLinks(html, t.rewrite)).toBe(html);
    expect(t.seen).toEqual([]);
  });

  it('skips script and style bodies but reads conditional comments', () => {
    const t = tracker();
    const html =
      '<style>a[href="https://a.example/css"]{}</style><script>x = "<a href=\'https://a.example/js\'>";</script>' +
      '<!--[if mso]><a href="https://a.example/mso">o</a><![endif]--><a href="https://a.example/after">a</a>';
    const out = rewriteHtmlLinks(html, t.rewrite);
    expect(t.seen).toEqual(['https://a.example/mso', 'https://a.example/after']);
    expect(out).toContain('https://a.example/css');
    expect(out).toContain("'https://a.example/js'");
  });

  it('decodes character references and trims whitespace before handing the URL over', () => {
    const t = tracker();
    rewriteHtmlLinks('<a href=" https://a.example/?a=1&amp;b=2&#38;c=3&#x26;d=4 ">x</a>', t.rewrite);
    expect(t.seen).toEqual(['https://a.example/?a=1&b=2&c=3&d=4']);
  });

  it('passes mailto:, tel:, anchors and relative links to the rewriter, which may keep them', () => {
    const t = tracker();
    const html = '<a href="mailto:a@example.com">m</a><a href="tel:+123">t</a><a href="#top">#</a><a href="/rel">r</a><a href>e</a>';
    expect(rewriteHtmlLinks(html, t.rewrite)).toBe(html);
    expect(t.seen).toEqual(['mailto:a@example.com', 'tel:+123', '#top', '/rel']);
  });

  it('escapes what the rewriter returns and copes with unterminated markup', () => {
    expect(rewriteHtmlLinks('<a href="https://x">', () => 'https://t/?a=1&b="2"')).toBe('<a href="https://t/?a=1&amp;b=&quot;2&quot;">');
    expect(rewriteHtmlLinks('<a href="https://x', () => 'https://t/')).toBe('<a href="https://t/');
    expect(rewriteHtmlLinks('<a href=https://x', () => 'https://t/')).toBe('<a href="https://t/"');
    expect(rewriteHtmlLinks('a < b and <3 <', () => 'https://t/')).toBe('a < b and <3 <');
  });

  it('keeps non-ASCII text intact around rewritten links', () => {
    const html = '<p>İstanbul — Grüße</p><style>İ</style><a href="https://a.example/é">é</a>';
    expect(rewriteHtmlLinks(html, () => 'https://t/1')).toBe('<p>İstanbul — Grüße</p><style>İ</style><a href="https://t/1">é</a>');
  });
});

describe('decodeHtmlEntities', () => {
  it('decodes numeric and common named references, leaving unknown ones', () => {
    expect(decodeHtmlEntities('a&amp;b&lt;&gt;&quot;&apos;&#65;&#x42;&#67&colon;&sol;')).toBe('a&b<>"\'ABC:/');
    expect(decodeHtmlEntities('?a=1&copy=2&unknown;&#0;&#xD800;')).toBe('?a=1&copy=2&unknown;\ufffd\ufffd');
    expect(decodeHtmlEntities('&constructor;&toString;')).toBe('&constructor;&toString;');
  });
});

describe('rewriteTextLinks', () => {
  it('rewrites bare http(s) URLs, leaving sentence punctuation and brackets outside', () => {
    const t = tracker();
    const text =
      'Visit https://a.example/1. Or (https://a.example/2), <https://a.example/3> and\n' +
      'https://en.wikipedia.org/wiki/Mail_(disambiguation)! HTTP://A.EXAMPLE/5?x=1&y=2;\n' +
      'not ftp://a.example/6 nor mailto:a@example.com nor xhttps://a.example/7';
    const out = rewriteTextLinks(text, t.rewrite);
    expect(t.seen).toEqual([
      'https://a.example/1',
      'https://a.example/2',
      'https://a.example/3',
      'https://en.wikipedia.org/wiki/Mail_(disambiguation)',
      'HTTP://A.EXAMPLE/5?x=1&y=2',
    ]);
    expect(out).toBe(
      'Visit https://t.test/c/1. Or (https://t.test/c/2), <https://t.test/c/3> and\n' +
        'https://t.test/c/4! https://t.test/c/5;\n' +
        'not ftp://a.example/6 nor mailto:a@example.com nor xhttps://a.example/7',
    );
  });
});
