import { Type, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValidationError } from './errors.js';

/** Shared schema atoms. Formats are patterns so one compiled checker needs no registry. */
export const IsoTime = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?Z$',
  description: 'UTC timestamp, RFC 3339',
});
export const MessageId = Type.String({ pattern: '^msg_[0-9A-HJKMNP-TV-Z]{26}$' });
export const AccountId = Type.String({ pattern: '^acc_[0-9A-HJKMNP-TV-Z]{26}$' });
export const SecretId = Type.String({ pattern: '^sec_[0-9A-HJKMNP-TV-Z]{26}$' });
export const EventId = Type.String({ minLength: 1, maxLength: 80, pattern: '^[A-Za-z0-9_.:-]+$' });
export const CampaignTag = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });
/** Syntax only; the full check is `parseAddress` at the edge that accepts it. */
export const Email = Type.String({ minLength: 3, maxLength: 320, pattern: '^[^\\s@]+@[^\\s@]+$' });
/** One header line's worth of text: no CR, LF or other control characters. */
export const HeaderText = (maxLength: number) =>
  Type.String({ maxLength, pattern: '^[^\\u0000-\\u0008\\u000a-\\u001f\\u007f]*$' });
export const Actor = Type.String({ minLength: 1, maxLength: 200 });

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

export function checker<T extends TSchema>(schema: T): TypeCheck<T> {
  let c = compiled.get(schema) as TypeCheck<T> | undefined;
  if (!c) {
    c = TypeCompiler.Compile(schema);
    compiled.set(schema, c);
  }
  return c;
}

/** Throws a ValidationError naming the first offending path. */
export function assertValid<T extends TSchema>(schema: T, value: unknown, code: string): void {
  const c = checker(schema);
  if (c.Check(value)) return;
  const first = c.Errors(value).First();
  throw new ValidationError(code, first ? `${first.path || '/'}: ${first.message}` : 'invalid value', {
    path: first?.path ?? '',
  });
}
