import { publishEvent, type Bus } from '@postbus/bus';
import { SIGNATURE_HEADER, signLead, sponsorEventId, type LeadForwarded, type LeadForwardingFailed } from '@postbus/contracts';
import { claimDueLeads, getSecret, leadPayloadAad, markLeadFailed, markLeadForwarded, scheduleLeadRetry, type Database, type DueLead, type SecretCipher } from '@postbus/db';
import type { Logger } from '@postbus/telemetry';
import { judgeAttempt, retryDelayMs } from '../domain/lead.js';
import { postJson, type PostResult } from './http-post.js';

export interface ForwarderDeps {
  readonly bus: Bus;
  readonly db: Database;
  readonly cipher: SecretCipher;
  readonly log: Logger;
  readonly clock?: () => Date;
  /** Swappable in tests; postJson by default. */
  readonly post?: typeof postJson;
}

export interface ForwarderOptions {
  readonly pollMs: number;
  readonly retryBaseMs: number;
  readonly maxAttempts: number;
  readonly timeoutMs: number;
  readonly allowPrivateEndpoints: boolean;
  readonly batch?: number;
}

/**
 * The outbox consumer: leads accepted by the gateway wait in `sponsor_leads` (encrypted) and
 * are POSTed to their sponsor's endpoint, each attempt leased in Postgres so that several
 * gateways never send one lead at once. Every attempt carries the same body and the same
 * `Idempotency-Key` (the lead id) — the sponsor deduplicates — and a fresh signature.
 * Nothing here logs a lead, a secret or the endpoint's answer body.
 */
export class LeadForwarder {
  readonly #deps: ForwarderDeps;
  readonly #opts: ForwarderOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(deps: ForwarderDeps, opts: ForwarderOptions) {
    this.#deps = deps;
    this.#opts = opts;
  }

  start(): void {
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.runOnce()
        .then((n) => this.#schedule(n > 0 ? 0 : this.#opts.pollMs))
        .catch((err: unknown) => {
          this.#deps.log.warn({ err }, 'lead forwarding pass failed');
          this.#schedule(this.#opts.pollMs);
        });
    }, ms);
  }

  /** One pass: the leads due now, forwarded concurrently. Returns how many were taken. */
  async runOnce(): Promise<number> {
    const now = (this.#deps.clock ?? (() => new Date()))();
    const lease = this.#opts.timeoutMs * 2 + 5_000;
    const due = await claimDueLeads(this.#deps.db, now, lease, this.#opts.batch ?? 20);
    await Promise.all(due.map((lead) => this.#forward(lead)));
    return due.length;
  }

  async #forward(lead: DueLead): Promise<void> {
    const { db, cipher, log } = this.#deps;
    const clock = this.#deps.clock ?? (() => new Date());
    let result: PostResult;
    if (!lead.endpointUrl) result = { error: 'sponsor has no endpoint' };
    else {
      try {
        const body = cipher.decrypt(lead.payload, leadPayloadAad(lead.id));
        const secret = await getSecret(db, cipher, lead.signingSecretId);
        const t = Math.floor(clock().getTime() / 1000);
        const headers = { 'idempotency-key': lead.id, [SIGNATURE_HEADER]: signLead(secret, body, t), 'user-agent': 'postbus-sponsor-gateway/1' };
        result = await (this.#deps.post ?? postJson)(lead.endpointUrl, headers, body, { allowPrivate: this.#opts.allowPrivateEndpoints, timeoutMs: this.#opts.timeoutMs });
      } catch (err) {
        // A key or secret that does not open: counted as an attempt, so it ends as LeadForwardingFailed, not a loop.
        result = { error: `cannot prepare the lead: ${(err as { code?: string }).code ?? 'error'}` };
      }
    }
    // The limit and the backoff count this round's attempts (an operator's retry starts a new round); event ids, every attempt.
    const outcome = judgeAttempt(result, lead.roundAttempts, this.#opts.maxAttempts);
    const ctx = { leadId: lead.id, sponsorId: lead.sponsorId, attempts: lead.attempts };
    switch (outcome.kind) {
      case 'delivered': {
        const event: LeadForwarded = {
          id: sponsorEventId('LeadForwarded', lead.id),
          type: 'LeadForwarded',
          version: 1,
          occurredAt: clock().toISOString(),
          data: { sponsorId: lead.sponsorId, leadId: lead.id, attempts: lead.attempts, status: outcome.status },
        };
        // The event first: should it fail, the lead is sent again (the sponsor deduplicates) rather than forwarded silently.
        await publishEvent(this.#deps.bus, this.#deps.bus.subjects.sponsor(lead.sponsorId), event, { timeoutMs: 5_000 });
        await markLeadForwarded(db, lead.id, clock());
        log.info(ctx, 'lead forwarded');
        return;
      }
      case 'retry': {
        const at = new Date(clock().getTime() + retryDelayMs(lead.roundAttempts, this.#opts.retryBaseMs, Math.random()));
        await scheduleLeadRetry(db, lead.id, at, outcome.reason);
        log.info({ ...ctx, reason: outcome.reason, nextAttemptAt: at.toISOString() }, 'lead forwarding attempt failed: retrying');
        return;
      }
      case 'give_up': {
        const event: LeadForwardingFailed = {
          id: sponsorEventId('LeadForwardingFailed', lead.id, lead.attempts),
          type: 'LeadForwardingFailed',
          version: 1,
          occurredAt: clock().toISOString(),
          data: { sponsorId: lead.sponsorId, leadId: lead.id, attempts: lead.attempts, reason: outcome.reason.slice(0, 200) },
        };
        await publishEvent(this.#deps.bus, this.#deps.bus.subjects.sponsor(lead.sponsorId), event, { timeoutMs: 5_000 });
        await markLeadFailed(db, lead.id, outcome.reason);
        log.warn({ ...ctx, reason: outcome.reason }, 'lead forwarding given up');
        return;
      }
      default: {
        const never: never = outcome;
        throw new Error(`unknown outcome ${String(never)}`);
      }
    }
  }
}
