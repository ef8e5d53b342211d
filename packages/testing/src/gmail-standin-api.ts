import { GMAIL_COMPOSE_SCOPE, GMAIL_FULL_SCOPE, GMAIL_METADATA_SCOPE, GMAIL_MODIFY_SCOPE, GMAIL_READONLY_SCOPE, GMAIL_SEND_SCOPE } from './gmail-standin-auth.js';
import { NOT_FOUND, apiError, rateLimited, type StandinReply } from './gmail-standin-errors.js';
import { addressOf, header, parseHeaders, type Mailbox } from './gmail-standin-mailbox.js';

export const SEND_SCOPES: ReadonlySet<string> = new Set([GMAIL_SEND_SCOPE, GMAIL_COMPOSE_SCOPE, GMAIL_MODIFY_SCOPE, GMAIL_FULL_SCOPE]);
export const READ_SCOPES: ReadonlySet<string> = new Set([GMAIL_READONLY_SCOPE, GMAIL_MODIFY_SCOPE, GMAIL_FULL_SCOPE]);
export const METADATA_SCOPES: ReadonlySet<string> = new Set([...READ_SCOPES, GMAIL_METADATA_SCOPE]);

export interface ApiContext {
  readonly mailbox: Mailbox;
  readonly now: number;
  readonly searchLagMs: number;
  readonly unknownFrom: 'reject' | 'rewrite';
}

const invalid = (message: string): StandinReply => apiError(400, 'invalidArgument', message);
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/**
 * The `raw` field: Gmail wants URL-safe base64. Standard base64 ('+', '/') or broken padding
 * gets the 400 Gmail answers for a bytes field it cannot decode.
 */
function decodeRaw(raw: unknown): Buffer | StandinReply {
  if (typeof raw !== 'string' || raw === '') {
    return invalid("'raw' RFC822 payload message string or uploading message via /upload/* URL required");
  }
  const padded = raw.includes('=');
  const bad = !BASE64URL.test(raw) || (padded ? raw.length % 4 !== 0 : raw.length % 4 === 1);
  return bad ? invalid('Invalid value for ByteString') : Buffer.from(raw, 'base64url');
}

/** The message of a JSON send: `{ raw, threadId? }`. */
export function jsonRaw(body: Buffer): { raw: Buffer; threadId?: string } | StandinReply {
  let json: { raw?: unknown; threadId?: unknown };
  try {
    json = JSON.parse(body.toString('utf8') || '{}') as typeof json;
  } catch {
    return apiError(400, 'parseError', 'Invalid JSON payload received.');
  }
  const raw = decodeRaw(json.raw);
  if (!Buffer.isBuffer(raw)) return raw;
  return { raw, ...(typeof json.threadId === 'string' ? { threadId: json.threadId } : {}) };
}

/** The message of an upload: uploadType=media (the bytes) or multipart (JSON metadata, then the bytes). */
export function uploadedRaw(body: Buffer, contentType: string, uploadType: string | null): { raw: Buffer; threadId?: string } | StandinReply {
  if (uploadType === 'media') return { raw: body };
  if (uploadType !== 'multipart') return invalid(`Invalid upload type: ${uploadType ?? '(none)'}`);
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!boundary) return invalid('Missing multipart boundary');
  const parts = body
    .toString('latin1')
    .split(`--${boundary}`)
    .slice(1, -1)
    .map((p) => {
      const i = p.indexOf('\r\n\r\n');
      return Buffer.from(p.slice(i + 4, p.endsWith('\r\n') ? -2 : undefined), 'latin1');
    });
  if (parts.length < 2) return invalid('Multipart upload needs metadata and media parts');
  let threadId: string | undefined;
  try {
    const meta = JSON.parse(parts[0]!.toString('utf8') || '{}') as { threadId?: unknown };
    if (typeof meta.threadId === 'string') threadId = meta.threadId;
  } catch {
    return invalid('Invalid JSON payload received.');
  }
  return { raw: parts[1]!, ...(threadId ? { threadId } : {}) };
}

/** users.messages.send: recipients present, From the user or a send-as alias, within quota; then stored. */
export function sendMessage(ctx: ApiContext, raw: Buffer, threadId: string | undefined): StandinReply {
  const headers = parseHeaders(raw);
  if (!['to', 'cc', 'bcc'].some((h) => header(headers, h))) return invalid('Recipient address required');
  const from = addressOf(header(headers, 'from'));
  const mb = ctx.mailbox;
  let message = raw;
  if (from === undefined || (from !== mb.email && !mb.aliases.has(from))) {
    // Real Gmail silently rewrites an unverified From to the user's address; tests choose.
    if (ctx.unknownFrom === 'reject') return invalid(`Invalid From header: ${from ?? '(none)'} is not a send-as address of this user`);
    message = rewriteFrom(raw, mb.email);
  }
  const blocked = mb.quotaBlockedUntil(ctx.now);
  if (blocked) return rateLimited(blocked.until, ctx.now, blocked.daily);
  const stored = mb.store(message, ['SENT'], ctx.now, threadId);
  mb.countSend(ctx.now);
  return { status: 200, body: { id: stored.id, threadId: stored.threadId, labelIds: stored.labelIds } };
}

function rewriteFrom(raw: Buffer, address: string): Buffer {
  const text = raw.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const head = end < 0 ? text : text.slice(0, end);
  const rest = end < 0 ? '' : text.slice(end);
  const replaced = /^from:/im.test(head) ? head.replace(/^from:.*(?:\r?\n[ \t].*)*/im, `From: ${address}`) : `From: ${address}\r\n${head}`;
  return Buffer.from(replaced + rest, 'latin1');
}

const page = <T>(items: T[], params: URLSearchParams, max: number): { items: T[]; next?: string } => {
  const size = Math.min(Math.max(Number(params.get('maxResults') ?? 100) || 100, 1), max);
  const offset = Number(params.get('pageToken') ?? 0) || 0;
  const next = offset + size < items.length ? String(offset + size) : undefined;
  return { items: items.slice(offset, offset + size), ...(next ? { next } : {}) };
};

/** users.messages.list: `q` goes through the search index, which lags `searchLagMs` behind. */
export function listMessages(ctx: ApiContext, params: URLSearchParams): StandinReply {
  const q = params.get('q') ?? undefined;
  const found = ctx.mailbox.search(q, params.getAll('labelIds'), q ? ctx.now - ctx.searchLagMs : undefined, params.get('includeSpamTrash') === 'true', ctx.now);
  const { items, next } = page(found, params, 500);
  const messages = items.map((m) => ({ id: m.id, threadId: m.threadId }));
  return {
    status: 200,
    body: { ...(messages.length > 0 ? { messages } : {}), ...(next ? { nextPageToken: next } : {}), resultSizeEstimate: found.length },
  };
}

/** users.messages.get in the formats minimal, metadata, raw and full (headers only). */
export function getMessage(ctx: ApiContext, id: string, params: URLSearchParams): StandinReply {
  const m = ctx.mailbox.find(id);
  if (!m) return NOT_FOUND();
  const format = params.get('format') ?? 'full';
  const base = {
    id: m.id,
    threadId: m.threadId,
    labelIds: m.labelIds,
    snippet: snippetOf(m.raw),
    sizeEstimate: m.raw.length,
    historyId: String(m.historyId),
    internalDate: String(m.internalDate),
  };
  if (format === 'minimal') return { status: 200, body: base };
  if (format === 'raw') return { status: 200, body: { ...base, raw: m.raw.toString('base64url') } };
  const wanted = params.getAll('metadataHeaders').map((h) => h.toLowerCase());
  const all = parseHeaders(m.raw);
  const headers = format === 'metadata' && wanted.length > 0 ? all.filter((h) => wanted.includes(h.name.toLowerCase())) : all;
  const mimeType = (header(all, 'content-type') ?? 'text/plain').split(';')[0]!.trim().toLowerCase();
  return { status: 200, body: { ...base, payload: { partId: '', mimeType, filename: '', headers, body: { size: m.raw.length } } } };
}

function snippetOf(raw: Buffer): string {
  const text = raw.toString('utf8');
  const i = text.search(/\r?\n\r?\n/);
  return (i < 0 ? '' : text.slice(i)).replace(/\s+/g, ' ').trim().slice(0, 200);
}

/** users.history.list: messageAdded records after startHistoryId; 404 once that id has expired. */
export function listHistory(ctx: ApiContext, params: URLSearchParams): StandinReply {
  const start = Number(params.get('startHistoryId'));
  if (!params.get('startHistoryId') || !Number.isInteger(start) || start < 0) return invalid('Invalid startHistoryId');
  const types = params.getAll('historyTypes');
  const records = ctx.mailbox.historySince(start, params.get('labelId') ?? undefined);
  if (records === 'expired') return NOT_FOUND();
  const relevant = types.length === 0 || types.includes('messageAdded') ? records : [];
  const { items, next } = page(relevant, params, 500);
  const history = items.map((h) => {
    const ref = { id: h.message.id, threadId: h.message.threadId };
    return { id: String(h.id), messages: [ref], messagesAdded: [{ message: { ...ref, labelIds: h.message.labelIds } }] };
  });
  return {
    status: 200,
    body: { ...(history.length > 0 ? { history } : {}), ...(next ? { nextPageToken: next } : {}), historyId: String(ctx.mailbox.historyId) },
  };
}

export function getProfile(ctx: ApiContext): StandinReply {
  const mb = ctx.mailbox;
  return {
    status: 200,
    body: {
      emailAddress: mb.email,
      messagesTotal: mb.messages.length,
      threadsTotal: new Set(mb.messages.map((m) => m.threadId)).size,
      historyId: String(mb.historyId),
    },
  };
}
