import type { gmail_v1 } from 'googleapis/build/src/apis/gmail/index.js';

/** Reading a mailbox (bounces come back to the account's own Gmail): the shapes GmailSession returns. */

export interface GmailHistoryPage {
  /** Gmail ids of the messages added (to the label asked for), oldest first, each once, with the history record that added it. */
  readonly added: readonly { readonly id: string; readonly historyId: string }[];
  /** The mailbox's history id when the listing ended: the next start once nothing is left. */
  readonly historyId: string;
  /** The listing stopped at its bound: more records wait after the last one in `added`. */
  readonly more: boolean;
}

export interface GmailMessageList {
  /** Gmail ids, oldest first. */
  readonly ids: readonly string[];
  /** The listing stopped at its bound. */
  readonly more: boolean;
}

export interface GmailRawMessage {
  readonly id: string;
  /** The RFC 822 bytes, cut at `maxBytes` (then `truncated`). */
  readonly raw: Buffer;
  readonly truncated: boolean;
  readonly historyId: string | undefined;
  readonly internalDate: Date | undefined;
}

export interface HistoryOptions {
  /** Only messages added to this label. Default INBOX. */
  readonly labelId?: string;
  /** Records asked for per page (Gmail allows 500). Default 500. */
  readonly pageSize?: number;
  /** Pages read at most. Default 10. */
  readonly maxPages?: number;
}

export interface ListOptions {
  readonly pageSize?: number;
  readonly maxPages?: number;
  readonly labelIds?: readonly string[];
}

/** Gmail history ids are unsigned 64-bit integers written as decimal strings. */
export const HISTORY_ID = /^[0-9]{1,20}$/;

/** The messageAdded records of history.list pages, as ids in record order (a message once, at its first record). */
export function addedMessages(records: readonly gmail_v1.Schema$History[]): { id: string; historyId: string }[] {
  const seen = new Set<string>();
  const out: { id: string; historyId: string }[] = [];
  for (const h of records) {
    if (!h.id) continue;
    for (const a of h.messagesAdded ?? []) {
      const id = a.message?.id;
      if (id && !seen.has(id)) {
        seen.add(id);
        out.push({ id, historyId: h.id });
      }
    }
  }
  return out;
}

/** messages.get's `raw` (URL-safe base64), decoded and cut at `maxBytes`. */
export function decodeRaw(raw: string | null | undefined, maxBytes: number): { raw: Buffer; truncated: boolean } {
  const bytes = Buffer.from(raw ?? '', 'base64url');
  return bytes.length > maxBytes ? { raw: bytes.subarray(0, maxBytes), truncated: true } : { raw: bytes, truncated: false };
}

/** Walks pages until there is no next page or `maxPages` were read; `fetch` gets the page token. */
export async function readPages<T extends { nextPageToken?: string | null }>(
  maxPages: number,
  fetch: (pageToken: string | undefined) => Promise<T>,
): Promise<{ pages: T[]; more: boolean }> {
  const pages: T[] = [];
  let token: string | undefined;
  for (let i = 0; i < maxPages; i++) {
    const page = await fetch(token);
    pages.push(page);
    token = page.nextPageToken ?? undefined;
    if (!token) return { pages, more: false };
  }
  return { pages, more: true };
}
