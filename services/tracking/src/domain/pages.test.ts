import { describe, expect, it } from 'vitest';
import { PAGE_CSP, confirmPage, escapeHtml, maskAddress } from './pages.js';

describe('pages', () => {
  it('escapes what it shows', () => {
    expect(escapeHtml(`<script>alert("x")</script>&'`)).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;');
    const html = confirmPage(`"><script>alert(1)</script>@example.org`);
    expect(html).not.toContain('<script>');
    expect(html).toContain('&quot;•••@example.org');
  });

  it('masks the address: first character and domain only', () => {
    expect(maskAddress('reader@example.org')).toBe('r•••@example.org');
    expect(maskAddress('nonsense')).toBe('•••');
  });

  it('the confirmation page posts to its own URL and has no script; the CSP forbids scripts and allows its style by hash', () => {
    const html = confirmPage('reader@example.org');
    expect(html).toMatch(/<form method="post">/);
    expect(html).not.toMatch(/action=|<script|\son\w+=/i);
    expect(PAGE_CSP).toContain("default-src 'none'");
    expect(PAGE_CSP).toContain("script-src 'none'");
    expect(PAGE_CSP).toContain("frame-ancestors 'none'");
    expect(PAGE_CSP).toMatch(/style-src 'sha256-[A-Za-z0-9+/]+=*'/);
  });
});
