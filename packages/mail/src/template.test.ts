import { describe, expect, it } from 'vitest';
import { LruCache } from './lru.js';
import { escapeHtml, prepareTemplate } from './template.js';

describe('prepareTemplate', () => {
  it('substitutes variables in subject, text and html', () => {
    const t = prepareTemplate({
      subject: 'Hi {{name}}, order {{ order.id }}',
      text: 'Dear {{ name }},\nyour code is {{code}}.',
      html: '<p>Dear {{ name }}</p><a href="{{url}}">go</a>',
    });
    const r = t.render({ name: 'Tom & "Jerry" <3', 'order.id': '42', code: 'A=B', url: 'https://x.test/?a=1&b=2' });
    expect(r.subject).toBe('Hi Tom & "Jerry" <3, order 42');
    expect(r.text).toBe('Dear Tom & "Jerry" <3,\nyour code is A=B.');
    expect(r.html).toBe('<p>Dear Tom &amp; &quot;Jerry&quot; &lt;3</p><a href="https://x.test/?a=1&amp;b=2">go</a>');
  });

  it('renders unknown placeholders and prototype names empty', () => {
    const t = prepareTemplate({ subject: '[{{missing}}][{{constructor}}][{{ __proto__ }}]', text: '{{toString}}' });
    expect(t.render({})).toEqual({ subject: '[][][]', text: '' });
    expect(t.render()).toEqual({ subject: '[][][]', text: '' });
  });

  it('leaves text that is not a placeholder alone', () => {
    const t = prepareTemplate({ subject: '{{ }} {name} {{1x}} {{{a}}}', html: '<style>a{}</style>' });
    expect(t.render({ a: 'A' })).toEqual({ subject: '{{ }} {name} {{1x}} {A}', html: '<style>a{}</style>' });
  });

  it('omits parts that were not given', () => {
    expect(prepareTemplate({ subject: 's', html: 'h' }).render()).toEqual({ subject: 's', html: 'h' });
  });

  it('renders the same template for many recipients', () => {
    const t = prepareTemplate({ subject: 'Hello {{n}}', text: '{{n}}!' });
    for (let i = 0; i < 5; i++) expect(t.render({ n: String(i) })).toEqual({ subject: `Hello ${i}`, text: `${i}!` });
  });
});

describe('escapeHtml', () => {
  it('escapes the five specials and returns other strings unchanged', () => {
    expect(escapeHtml(`<a href='x'>"&"</a>`)).toBe('&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;');
    const plain = 'nothing to escape';
    expect(escapeHtml(plain)).toBe(plain);
  });
});

describe('LruCache', () => {
  it('evicts the least recently used entry', () => {
    const lru = new LruCache<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    expect(lru.get('a')).toBe(1);
    lru.set('c', 3);
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toBe(1);
    expect(lru.get('c')).toBe(3);
    expect(lru.size).toBe(2);
  });
});
