/**
 * Errors from the keyring. Messages are fixed strings plus key ids at most: a secret's
 * plaintext or a key's bytes must never reach a log line through an error.
 */
export type SecretErrorCode =
  | 'secret_key_unknown'
  | 'secret_corrupt'
  | 'secret_key_invalid'
  | 'secret_keyring_invalid'
  | 'token_payload_invalid';

export class SecretError extends Error {
  readonly code: SecretErrorCode;

  constructor(code: SecretErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretError';
    this.code = code;
  }
}

export function isSecretError(err: unknown): err is SecretError {
  return err instanceof SecretError;
}
