import { Type } from '@sinclair/typebox';
import type { TokenKeyring, TokenKind, TokenOpenResult } from '@postbus/secrets';
import type { FastifyRequest } from 'fastify';
import { LIMITS } from '../deps.js';

/**
 * `:token` — base64url, bounded per kind. Routes validate it with `attachValidation`, so a
 * token that fails the schema is answered exactly like one that fails to open (the pixel, or
 * the 404 page) instead of with a 400 that would tell the two apart.
 */
export const TokenParams = (kind: TokenKind) =>
  Type.Object(
    { token: Type.String({ minLength: 1, maxLength: LIMITS.tokenChars[kind], pattern: '^[A-Za-z0-9_-]+$' }) },
    { additionalProperties: false },
  );

type Failed = Extract<TokenOpenResult<TokenKind>, { ok: false }>;
const MALFORMED: Failed = { ok: false, code: 'token_malformed' };

/**
 * The token of a request, opened. The keyring rejects by length, alphabet, version and key id
 * before it decrypts anything, and never throws.
 */
export function openToken<K extends TokenKind>(tokens: TokenKeyring, kind: K, request: FastifyRequest): TokenOpenResult<K> {
  if (request.validationError) return MALFORMED;
  const token = (request.params as { token?: unknown }).token;
  return typeof token === 'string' ? tokens.open(kind, token) : MALFORMED;
}
