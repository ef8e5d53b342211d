import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { IsoTime, OfferId } from '@postbus/contracts';

const Text = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: '^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$' });

/** What a landing page or a sponsor's server posts. Consent is required: its text, when it was given and where. */
export const LeadBody = Type.Object(
  {
    offerId: Type.Optional(OfferId),
    email: Type.String({ minLength: 3, maxLength: 320 }),
    name: Type.Optional(Text(200)),
    consent: Type.Object(
      {
        text: Text(2000),
        time: IsoTime,
        source: Text(200),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type LeadBody = Static<typeof LeadBody>;

/** Exactly what the sponsor receives (and what is stored, encrypted, until it has it). */
export interface ForwardedLead {
  readonly id: string;
  readonly sponsorId: string;
  readonly offerId: string;
  readonly email: string;
  readonly name: string | null;
  readonly consent: { readonly text: string; readonly time: string; readonly source: string };
  readonly receivedAt: string;
}

/** The request's identity for idempotency: the same key with another lead is a conflict. */
export function leadRequestHash(offerId: string, address: string, body: LeadBody): string {
  return createHash('sha256')
    .update(JSON.stringify([offerId, address, body.name ?? null, body.consent.text, body.consent.time, body.consent.source]))
    .digest('hex');
}

/** Delay before attempt `attempts + 1`: base × 2^(attempts − 1), at most an hour, ±20 % jitter (`random` in [0, 1)). */
export function retryDelayMs(attempts: number, baseMs: number, random: number): number {
  const raw = Math.min(baseMs * 2 ** Math.max(0, attempts - 1), 3_600_000);
  return Math.round(raw * (0.8 + 0.4 * random));
}

export type AttemptOutcome =
  | { readonly kind: 'delivered'; readonly status: number }
  | { readonly kind: 'retry'; readonly reason: string }
  | { readonly kind: 'give_up'; readonly reason: string };

/**
 * What one attempt's answer means. 2xx (with its whole body read): delivered. 408, 425, 429,
 * 5xx and anything that broke the exchange (refused, reset, timed out, a 200 whose connection
 * dropped): retry until the attempts run out. Other 4xx: the sponsor refuses this lead for good.
 */
export function judgeAttempt(result: { status: number } | { error: string }, attempts: number, maxAttempts: number): AttemptOutcome {
  if ('status' in result && result.status >= 200 && result.status < 300) return { kind: 'delivered', status: result.status };
  const reason = 'status' in result ? `http ${result.status}` : result.error;
  const retryable = !('status' in result) || result.status >= 500 || [408, 425, 429].includes(result.status);
  if (!retryable) return { kind: 'give_up', reason };
  return attempts >= maxAttempts ? { kind: 'give_up', reason: `${reason} (after ${attempts} attempts)` } : { kind: 'retry', reason };
}
