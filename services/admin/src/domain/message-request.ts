import {
  isPostbusError,
  parseAddress,
  validateEvent,
  type AccountState,
  type EmailRequested,
  type MessageContent,
  type MessageKind,
} from '@postbus/contracts';
import { containsUnstorableText } from './storable-text.js';

/** One message as the API accepts it (after the schema). */
export interface MessageRequest {
  readonly to: string;
  readonly toName?: string;
  readonly replyTo?: string;
  readonly subject: string;
  readonly text?: string;
  readonly html?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly variables?: Readonly<Record<string, string>>;
  readonly tracking?: { readonly opens?: boolean; readonly clicks?: boolean };
  readonly kind?: MessageKind;
  readonly accountId?: string;
  readonly campaignId?: string;
  readonly expiresInHours?: number;
}

export interface MessageProblem {
  readonly index: number;
  readonly status: number;
  readonly code: string;
  readonly field: string;
  readonly detail: string;
}

export interface AccountLookup {
  get(id: string): AccountState | undefined;
  all(): readonly AccountState[];
}

/** Time, ids and the caller arrive as arguments: this module does no I/O. */
export interface RequestContext {
  readonly principal: string;
  readonly now: Date;
  readonly maxContentBytes: number;
  messageId(index: number): string;
}

export interface PreparedRequest {
  readonly messageId: string;
  readonly event: EmailRequested;
}

export type Prepared =
  | { readonly ok: true; readonly requests: readonly PreparedRequest[] }
  | { readonly ok: false; readonly problems: readonly MessageProblem[] };

// CR, LF and the other C0 controls (TAB is legal folding whitespace), DEL, and the Unicode
// line breaks some libraries honour.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f\u0085\u2028\u2029]/;
const X_HEADER = /^X-[A-Za-z0-9-]{1,60}$/i;
const DEFAULT_EXPIRY_HOURS = 72;

export function hasPostalAddress(account: AccountState): boolean {
  return (account.settings.postalAddress ?? '').trim().length > 0;
}

/** True when the batch needs the account directory (to resolve an account or find a postal address). */
export function needsAccounts(messages: readonly MessageRequest[]): boolean {
  return messages.some((m) => m.accountId !== undefined || (m.kind ?? 'bulk') === 'bulk');
}

/**
 * Checks a whole batch and turns it into `EmailRequested` events — all of them or none:
 * every problem of every message is reported, each with the message's index.
 */
export function prepareMessages(messages: readonly MessageRequest[], accounts: AccountLookup, ctx: RequestContext): Prepared {
  const problems: MessageProblem[] = [];
  const requests: PreparedRequest[] = [];
  const anyPostal = () => accounts.all().some(hasPostalAddress);
  messages.forEach((m, index) => {
    const fail = (status: number, code: string, field: string, detail: string) =>
      problems.push({ index, status, code, field, detail: `messages[${index}].${field}: ${detail}` });
    const result = checkMessage(m, accounts, anyPostal, ctx);
    if ('problem' in result) return fail(...result.problem);
    const messageId = ctx.messageId(index);
    const event = toEvent(messageId, m, result.content, ctx);
    try {
      validateEvent(event);
    } catch (err) {
      return fail(422, 'invalid_message', 'message', isPostbusError(err) ? err.message : 'cannot be represented as an event');
    }
    requests.push({ messageId, event });
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, requests };
}

type Check = { content: MessageContent } | { problem: [number, string, string, string] };

function checkMessage(m: MessageRequest, accounts: AccountLookup, anyPostal: () => boolean, ctx: RequestContext): Check {
  const { to, toName, replyTo, subject, text, html, headers, variables } = m;
  const raw = { to, toName, replyTo, subject, text, html, headers, variables };
  if (Buffer.byteLength(JSON.stringify(raw)) > ctx.maxContentBytes) {
    return { problem: [413, 'payload_too_large', 'content', `larger than ${ctx.maxContentBytes} bytes`] };
  }
  const injected = headerInjection(m);
  if (injected) return { problem: [422, 'header_injection', injected, 'contains a line break or control character'] };
  // The ledger keeps the request as jsonb, which cannot hold U+0000 or a lone surrogate: accepted, it would never be dispatched.
  const unstorable = Object.entries(raw).find(([, v]) => containsUnstorableText(v))?.[0] ?? (containsUnstorableText([m.accountId, m.campaignId]) ? 'accountId' : undefined);
  if (unstorable) return { problem: [422, 'invalid_message', unstorable, 'contains a NUL (U+0000) or an unpaired surrogate'] };
  const foreign = Object.keys(headers ?? {}).find((name) => !X_HEADER.test(name));
  if (foreign !== undefined) return { problem: [422, 'header_not_allowed', 'headers', 'only X- headers (X- and 1 to 60 letters, digits or dashes) may be set'] };
  let toAddress: string;
  let replyToAddress: string | undefined;
  try {
    toAddress = parseAddress(to).address;
  } catch (err) {
    return { problem: [422, 'invalid_address', 'to', (err as Error).message] };
  }
  try {
    replyToAddress = replyTo === undefined ? undefined : parseAddress(replyTo).address;
  } catch (err) {
    return { problem: [422, 'invalid_address', 'replyTo', (err as Error).message] };
  }
  if (!text && !html) return { problem: [422, 'empty_body', 'text', 'text or html is required'] };
  const account = m.accountId === undefined ? undefined : accounts.get(m.accountId);
  if (m.accountId !== undefined && !account) return { problem: [422, 'unknown_account', 'accountId', 'no such account'] };
  if ((m.kind ?? 'bulk') === 'bulk' && (account ? !hasPostalAddress(account) : !anyPostal())) {
    const where = account ? 'the account has no postal address' : 'no account has a postal address';
    return { problem: [422, 'postal_address_required', account ? 'accountId' : 'kind', `bulk mail needs a postal address: ${where}`] };
  }
  const content: MessageContent = {
    to: toAddress,
    subject,
    ...(toName !== undefined ? { toName } : {}),
    ...(replyToAddress !== undefined ? { replyTo: replyToAddress } : {}),
    ...(text ? { text } : {}),
    ...(html ? { html } : {}),
    ...(headers && Object.keys(headers).length > 0 ? { headers: canonicalHeaders(headers) } : {}),
    ...(variables && Object.keys(variables).length > 0 ? { variables: { ...variables } } : {}),
    ...(m.tracking ? { tracking: { ...m.tracking } } : {}),
  };
  return { content };
}

/** The first field that could smuggle a header line, or undefined. Variables count: templates put them in headers. */
function headerInjection(m: MessageRequest): string | undefined {
  if (CONTROL.test(m.subject)) return 'subject';
  if (m.toName !== undefined && CONTROL.test(m.toName)) return 'toName';
  for (const [name, value] of Object.entries(m.headers ?? {})) {
    if (CONTROL.test(name) || CONTROL.test(value)) return `headers.${JSON.stringify(name.replace(new RegExp(CONTROL.source, 'g'), '?'))}`;
  }
  for (const [name, value] of Object.entries(m.variables ?? {})) {
    if (CONTROL.test(value)) return `variables.${name}`;
  }
  return undefined;
}

/** `x-foo` and `X-foo` are one header: the prefix is written as `X-`, the rest as given. */
function canonicalHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [`X-${name.slice(2)}`, value]));
}

function toEvent(messageId: string, m: MessageRequest, content: MessageContent, ctx: RequestContext): EmailRequested {
  const hours = m.expiresInHours ?? DEFAULT_EXPIRY_HOURS;
  return {
    id: `${messageId}.requested`,
    type: 'EmailRequested',
    version: 1,
    occurredAt: ctx.now.toISOString(),
    messageId,
    ...(m.accountId !== undefined ? { accountId: m.accountId } : {}),
    data: {
      kind: m.kind ?? 'bulk',
      ...(m.accountId !== undefined ? { accountId: m.accountId } : {}),
      ...(m.campaignId !== undefined ? { campaignId: m.campaignId } : {}),
      content,
      expiresAt: new Date(ctx.now.getTime() + hours * 3_600_000).toISOString(),
      requestedBy: ctx.principal,
    },
  };
}
