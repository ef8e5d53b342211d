import { createPrivateKey } from 'node:crypto';

/** Where Google exchanges a service account's signed JWT for an access token. */
export const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';
const GOOGLE_TOKEN_URIS = new Set([GOOGLE_TOKEN_URI, 'https://accounts.google.com/o/oauth2/token', 'https://www.googleapis.com/oauth2/v4/token']);

/**
 * A parsed service-account key. `privateKey` is a secret: it is a non-enumerable property,
 * so JSON.stringify, util.inspect and loggers never see it.
 */
export interface ServiceAccountCredentials {
  readonly clientEmail: string;
  readonly privateKeyId: string | undefined;
  readonly tokenUri: string;
  readonly privateKey: string;
}

/** A Gmail setting that cannot work. Its message names the field, never a secret's value. */
export class GmailConfigError extends Error {
  readonly code = 'gmail_config_invalid';
  constructor(message: string) {
    super(message);
    this.name = 'GmailConfigError';
  }
}

/**
 * Reads a service-account key file (the JSON Google Cloud hands out). Its `token_uri` is
 * used only when it is one of Google's token endpoints or listed in `trustedTokenUris`:
 * the signed assertion sent there is a credential, so a key file must not be able to send
 * it anywhere it likes.
 */
export function parseServiceAccountKey(json: string | Readonly<Record<string, unknown>>, trustedTokenUris: readonly string[] = []): ServiceAccountCredentials {
  let data: unknown;
  if (typeof json === 'string') {
    try {
      data = JSON.parse(json);
    } catch {
      // JSON.parse quotes the text around the error: that would be the key.
      throw new GmailConfigError('service-account key is not valid JSON');
    }
  } else {
    data = json;
  }
  if (typeof data !== 'object' || data === null) throw new GmailConfigError('service-account key is not a JSON object');
  const k = data as Record<string, unknown>;
  if (k.type !== undefined && k.type !== 'service_account') throw new GmailConfigError('service-account key: type is not service_account');
  const clientEmail = k.client_email;
  if (typeof clientEmail !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(clientEmail)) {
    throw new GmailConfigError('service-account key: client_email is missing or not an address');
  }
  const privateKey = k.private_key;
  if (typeof privateKey !== 'string') throw new GmailConfigError('service-account key: private_key is missing');
  try {
    if (createPrivateKey(privateKey).asymmetricKeyType !== 'rsa') throw new Error('not rsa');
  } catch {
    throw new GmailConfigError('service-account key: private_key is not an RSA private key');
  }
  const tokenUri = k.token_uri === undefined ? GOOGLE_TOKEN_URI : k.token_uri;
  if (typeof tokenUri !== 'string' || !(GOOGLE_TOKEN_URIS.has(tokenUri) || trustedTokenUris.includes(tokenUri))) {
    throw new GmailConfigError('service-account key: token_uri is not a Google token endpoint (nor a trusted one)');
  }
  const keyId = k.private_key_id;
  const credentials = {
    clientEmail,
    privateKeyId: typeof keyId === 'string' ? keyId : undefined,
    tokenUri,
  };
  Object.defineProperty(credentials, 'privateKey', { value: privateKey, enumerable: false });
  return Object.freeze(credentials) as ServiceAccountCredentials;
}
