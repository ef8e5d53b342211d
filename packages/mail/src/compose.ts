import { AddressError, ValidationError, parseAddress, pooledRandomBytes as randomBytes } from '@postbus/contracts';
import { chooseTransferEncoding, encodeBody, type TransferEncoding } from './body.js';
import {
  assertExtraHeaderName,
  assertHeaderValue,
  formatDate,
  formatMessageId,
  headerInjection,
  mailboxHeader,
  unstructuredHeader,
} from './headers.js';
import { prepareTemplate, type RenderedContent, type TemplateVariables } from './template.js';

export interface ComposeInput {
  /** Our message id (`msg_01J…`); the Message-ID header is derived from it. */
  readonly messageId: string;
  readonly from: { readonly address: string; readonly name?: string | null };
  readonly to: { readonly address: string; readonly name?: string | null };
  readonly replyTo?: string;
  readonly subject: string;
  readonly text?: string;
  readonly html?: string;
  /** Extra headers; only `X-` names are accepted. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly variables?: TemplateVariables;
  readonly date: Date;
  readonly messageIdDomain: string;
}

export interface ComposedMessage {
  /** The complete RFC 5322 message, CRLF line ends, every line within 998 octets. */
  readonly raw: Buffer;
  /** `<msg_…@domain>`: the same for every attempt of one message. */
  readonly headerMessageId: string;
  readonly envelope: { readonly from: string; readonly to: string[] };
}

export function composeMessage(input: ComposeInput): ComposedMessage {
  return writeMessage(input, renderContent(input), '');
}

/** Subject and bodies with the variables substituted (html values escaped). */
export function renderContent(input: ComposeInput): RenderedContent {
  return prepareTemplate({
    subject: input.subject,
    ...(input.text !== undefined ? { text: input.text } : {}),
    ...(input.html !== undefined ? { html: input.html } : {}),
  }).render(input.variables);
}

/**
 * Writes an already rendered message. `systemHeaders` are complete, folded header fields that
 * the caller built and checked (List-Unsubscribe and friends); they go after MIME-Version.
 * Package-internal: callers outside go through composeMessage or composeCompliant.
 */
export function writeMessage(input: ComposeInput, content: RenderedContent, systemHeaders: string): ComposedMessage {
  if (content.text === undefined && content.html === undefined) {
    throw new ValidationError('message_empty', 'a message needs a text or an html body');
  }
  const envelope = envelopeOf(input.from.address, input.to.address);
  const from = envelope.from;
  const to = envelope.to[0]!;
  const headerMessageId = formatMessageId(input.messageId, input.messageIdDomain);

  let head =
    mailboxHeader('From', from, input.from.name) +
    mailboxHeader('To', to, input.to.name) +
    (input.replyTo !== undefined ? mailboxHeader('Reply-To', mailbox('Reply-To', input.replyTo)) : '') +
    unstructuredHeader('Subject', content.subject) +
    `Date: ${formatDate(input.date)}\r\n` +
    `Message-ID: ${headerMessageId}\r\n` +
    'MIME-Version: 1.0\r\n' +
    systemHeaders;
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    assertExtraHeaderName(name);
    head += unstructuredHeader(name, value);
  }

  let body: string;
  if (content.text !== undefined && content.html !== undefined) {
    // "=_" can occur in neither quoted-printable nor base64 output, so no part can hold it.
    const boundary = `=_pb_${randomBytes(16).toString('base64url')}`;
    head += `Content-Type: multipart/alternative; boundary="${boundary}"\r\n`;
    body =
      `\r\n--${boundary}\r\n${part('text/plain', content.text)}\r\n` +
      `--${boundary}\r\n${part('text/html', content.html)}\r\n` +
      `--${boundary}--\r\n`;
  } else {
    body = part(content.text !== undefined ? 'text/plain' : 'text/html', (content.text ?? content.html) as string);
    if (!body.endsWith('\r\n')) body += '\r\n';
  }

  return {
    raw: Buffer.from(`${head}${body}`, 'ascii'),
    headerMessageId,
    envelope,
  };
}

/** The SMTP envelope of a message from `fromAddress` to `toAddress`: the bare addresses, checked as header values. */
export function envelopeOf(fromAddress: string, toAddress: string): { readonly from: string; readonly to: string[] } {
  return { from: mailbox('From', fromAddress), to: [mailbox('To', toAddress)] };
}

/** Content headers, a blank line and the encoded body (no trailing CRLF of its own). */
function part(type: 'text/plain' | 'text/html', text: string): string {
  const encoding: TransferEncoding = chooseTransferEncoding(text);
  return (
    `Content-Type: ${type}; charset=utf-8\r\n` +
    `Content-Transfer-Encoding: ${encoding}\r\n\r\n` +
    encodeBody(text, encoding)
  );
}

export function mailbox(header: string, address: string): string {
  assertHeaderValue(header, address);
  try {
    return parseAddress(address).address;
  } catch (err) {
    if (err instanceof AddressError) {
      if (err.problem === 'control_characters') throw headerInjection(header, 'address contains control characters');
      throw new ValidationError('invalid_address', `${header}: ${err.message}`, { header, problem: err.problem });
    }
    throw err;
  }
}
