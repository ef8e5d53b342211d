import { describe, expect, it } from 'vitest';
import { classifySource } from './user-agent.js';

describe('classifySource', () => {
  it.each([
    ['Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)', 'proxy'],
    ['Mozilla/5.0 (compatible; YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html)', 'proxy'],
    ['Mozilla/5.0', 'proxy'],
    ['Mozilla/5.0 (compatible; Barracuda Sentinel (EE))', 'scanner'],
    ['Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)', 'scanner'],
    ['Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)', 'scanner'],
    ['curl/8.5.0', 'scanner'],
    ['python-requests/2.31.0', 'scanner'],
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36', 'scanner'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)', 'human'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36', 'human'],
    ['Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)', 'human'],
    ['', 'unknown'],
    ['   ', 'unknown'],
    [undefined, 'unknown'],
  ])('%s → %s', (ua, source) => {
    expect(classifySource(ua)).toBe(source);
  });

  it('reads only a bounded prefix of a huge User-Agent', () => {
    expect(classifySource(`Mozilla/5.0 (Macintosh) ${'x'.repeat(10_000)} curl/8`)).toBe('human');
  });
});
