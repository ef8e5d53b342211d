export { composeMessage, envelopeOf, type ComposeInput, type ComposedMessage } from './compose.js';
export {
  prepareTemplate,
  escapeHtml,
  type PreparedTemplate,
  type RenderedContent,
  type TemplateSource,
  type TemplateVariables,
} from './template.js';
export { encodeQuotedPrintable, encodeBase64, chooseTransferEncoding, type TransferEncoding } from './body.js';
export { encodeWords, formatDate, formatMessageId } from './headers.js';
export {
  composeCompliant,
  UNSUBSCRIBE_VARIABLE,
  type CompliantComposeInput,
  type CompliantMessage,
  type TokenIssuer,
  type TrackingTokenKind,
  type TrackingTokenPayloads,
} from './compliance.js';
export { rewriteHtmlLinks, rewriteTextLinks, decodeHtmlEntities, type LinkRewriter } from './links.js';
export { signDkim, dkimDnsRecordValue, type DkimOptions } from './dkim.js';
