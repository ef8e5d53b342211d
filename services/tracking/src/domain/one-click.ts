import type { UnsubscribeMethod } from './events.js';

/**
 * How an unsubscribe POST came: RFC 8058 one-click (a mail client POSTing
 * `List-Unsubscribe=One-Click`, as application/x-www-form-urlencoded or multipart/form-data)
 * or the confirmation page's button. Only the label depends on this: every POST with a valid
 * token unsubscribes, whatever its body, so nothing here can lose an unsubscribe.
 */
export function unsubscribeMethod(contentType: string | undefined, body: Buffer | undefined): UnsubscribeMethod {
  if (!body || body.length === 0) return 'page';
  const media = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  // Bodies are small (the parser caps them); latin1 never throws on odd bytes.
  const text = body.toString('latin1');
  if (media === 'multipart/form-data') return MULTIPART_ONE_CLICK.test(text) ? 'one_click' : 'page';
  // Urlencoded, and any other type: some clients send the urlencoded body under a wrong type.
  return isOneClickForm(text) ? 'one_click' : 'page';
}

const MULTIPART_ONE_CLICK = /content-disposition:[^\r\n]*\bname="?List-Unsubscribe"?(?:;[^\r\n]*)?\r?\n(?:[^\r\n]+\r?\n)*\r?\n[ \t]*One-Click[ \t]*(?:\r?\n|$)/i;

function isOneClickForm(text: string): boolean {
  for (const [key, value] of new URLSearchParams(text.trim())) {
    if (key.toLowerCase() === 'list-unsubscribe' && value.trim().toLowerCase() === 'one-click') return true;
  }
  return false;
}
