import type { HitSource } from '@postbus/contracts';

/**
 * Who fetched a pixel or followed a link, judged from the User-Agent alone (the only signal
 * kept: no IP is read). Mail providers fetch images through proxies — on delivery (Apple
 * Mail Privacy Protection) or whenever the message is shown (Gmail, Yahoo) — and security
 * gateways and chat apps follow links before any person does. The classes are coarse on
 * purpose: they let a report discount machine hits, they do not decide anything.
 */
const PROXY = [
  /GoogleImageProxy/i,
  /\bggpht\.com\b/i,
  /YahooMailProxy/i,
  /\bYahoo!? ?Slurp\b/i,
  /OutlookImageProxy/i,
  /\bMicrosoft Office Image Proxy\b/i,
];

/** Apple MPP fetches with a bare `Mozilla/5.0`, which no real browser sends. */
const BARE_MOZILLA = /^Mozilla\/5\.0$/;

const SCANNER = [
  /\b(?:bot|crawler|spider|scanner|preview|scan)\b/i,
  /(?:Googlebot|bingbot|BingPreview|Slackbot|Twitterbot|LinkedInBot|Discordbot|TelegramBot|WhatsApp|facebookexternalhit|SkypeUriPreview)/i,
  /(?:Barracuda|Mimecast|Proofpoint|Symantec|MessageLabs|Forcepoint|Sophos|Trend ?Micro|FireEye|Cisco|IronPort|Zscaler|Avanan|Abnormal|SafeLinks)/i,
  /^(?:curl|Wget|python-requests|python-urllib|Python|Go-http-client|Java|Apache-HttpClient|libwww-perl|node-fetch|axios|undici|okhttp\/[0-9.]+$)/i,
  /HeadlessChrome/i,
];

export const MAX_USER_AGENT_CHARS = 512;

export function classifySource(userAgent: string | undefined): HitSource {
  const ua = (userAgent ?? '').slice(0, MAX_USER_AGENT_CHARS).trim();
  if (ua === '') return 'unknown';
  if (BARE_MOZILLA.test(ua) || PROXY.some((p) => p.test(ua))) return 'proxy';
  if (SCANNER.some((p) => p.test(ua))) return 'scanner';
  return 'human';
}
