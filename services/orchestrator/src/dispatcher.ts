import type { JsMsg } from '@postbus/bus';
import { publishEvent, publishWork, withLinkedMessages, withMessageContext, type AccountDirectory, type Bus } from '@postbus/bus';
import {
  MAIL_BATCH_SUBJECT_TOKEN,
  MAIL_SUBJECT_TOKEN,
  MAX_QUEUED_PER_EVENT,
  UNASSIGNED,
  decodeEvent,
  effectiveDailyLimit,
  emailsQueued,
  eventIds,
  streamName,
  type AccountState,
  type EmailQueued,
  type EmailRequested,
  type MailEvent,
} from '@postbus/contracts';
import {
  NotLeaderError,
  accountUsage,
  assertLeader,
  assignWaiting,
  assignedCounts,
  assignedOf,
  creditOf,
  currentAssignments,
  expireDue,
  insertDeliveries,
  lockWaiting,
  sql,
  takeDueRetries,
  type Assignment,
  type Database,
  type Leadership,
  type NewDelivery,
  type Transaction,
} from '@postbus/db';
import { metrics, type Logger } from '@postbus/telemetry';
import { assign, type Candidate, type Wanted } from './domain/assign.js';

export interface DispatcherDeps {
  readonly bus: Bus;
  readonly db: Database;
  readonly directory: AccountDirectory;
  readonly log: Logger;
  readonly clock?: () => Date;
  /**
   * Messages per EmailsQueued when a dispatch gives one account several at once (1: an
   * EmailQueued each, as for dispatchers built without it).
   */
  readonly queuedPerEvent?: number;
}

/**
 * From `EmailRequested` to a ledger row (assigned, or waiting for room), `EmailQueued` and
 * a DISPATCH work item; retries when due; waiting rows when room appears; expiry; and a
 * reconciliation that republishes work items the log lost. Every publish has an id derived
 * from its cause, so doing any of this twice is harmless.
 */
export class Dispatcher {
  private readonly clock: () => Date;
  private chain: Promise<unknown> = Promise.resolve();
  /** Set while this orchestrator leads: every transaction checks it, every dispatch carries its epoch. */
  leadership: Leadership | undefined;

  constructor(private readonly deps: DispatcherDeps) {
    this.clock = deps.clock ?? (() => new Date());
  }

  /** Credit is read and spent in one transaction; in this process, one such transaction at a time. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private activeAccounts(): AccountState[] {
    return this.deps.directory.all().filter((a) => a.status === 'active');
  }

  /** Fences a leader's transaction (refused once another orchestrator has taken over). */
  private async fence(tx: Transaction): Promise<void> {
    if (!this.leadership) throw new NotLeaderError('this orchestrator', 0);
    await assertLeader(tx, this.leadership);
  }

  private async candidates(tx: Transaction, now: Date): Promise<Candidate[]> {
    const accounts = this.activeAccounts();
    const usage = await accountUsage(tx, accounts.map((a) => a.id), now);
    return accounts.map((a) => ({
      accountId: a.id,
      credit: creditOf(usage.get(a.id) ?? { accountId: a.id, sentToday: 0, sentRolling24h: 0, open: 0, inFlight: 0 }, effectiveDailyLimit(a.settings, now)),
      hasPostalAddress: Boolean(a.settings.postalAddress),
    }));
  }

  async handleRequests(batch: JsMsg[]): Promise<void> {
    const requests: Array<{ msg: JsMsg; event: EmailRequested }> = [];
    for (const msg of batch) {
      try {
        const event = decodeEvent(msg.data);
        if (event.type === 'EmailRequested' && event.messageId) requests.push({ msg, event });
        else msg.ack();
      } catch (err) {
        this.deps.log.error({ err, seq: msg.seq }, 'invalid request event: terminated');
        msg.term();
      }
    }
    if (requests.length === 0) return;
    const events: Array<Promise<unknown>> = [];
    await this.exclusive(async () => {
      const now = this.clock();
      const { rows, inserted, existing } = await this.deps.db.tx(async (tx) => {
        await this.fence(tx);
        const choice = assign(
          requests.map(({ event }): Wanted => ({ messageId: event.messageId!, kind: event.data.kind, pinnedAccountId: event.data.accountId ?? null })),
          await this.candidates(tx, now),
        );
        const rows = requests.map(({ event }): NewDelivery => ({
          messageId: event.messageId!,
          kind: event.data.kind,
          pinnedAccountId: event.data.accountId ?? null,
          campaignId: event.data.campaignId ?? null,
          recipient: event.data.content.to,
          content: event.data.content,
          requestedAt: new Date(event.occurredAt),
          requestedBy: event.data.requestedBy,
          expiresAt: new Date(event.data.expiresAt),
          accountId: choice.get(event.messageId!) ?? null,
        }));
        const inserted = await insertDeliveries(tx, rows, now);
        const existing = await currentAssignments(tx, rows.filter((r) => !inserted.has(r.messageId)).map((r) => r.messageId));
        return { rows, inserted, existing };
      });
      // Each message's publishes carry its request's trace on (the span runBatchLoop started for it).
      const msgOf = new Map(requests.map((q) => [q.event.messageId!, q.msg]));
      const fresh: Assignment[] = [];
      for (const r of rows) {
        const push = (p: () => Promise<unknown>) => events.push(withMessageContext(msgOf.get(r.messageId), p));
        if (inserted.has(r.messageId)) {
          const accountId = r.accountId;
          if (accountId) fresh.push({ ...r, accountId, assignment: 1, attempt: 1, subject: r.content.subject });
          else push(() => this.publishMail(UNASSIGNED, waitingEvent(r, now)));
        } else {
          // A redelivered request whose row was written before: publish again what it led to.
          const cur = existing.get(r.messageId);
          if (cur?.state === 'assigned') push(() => this.dispatch(cur, now));
          if (cur?.state === 'waiting') push(() => this.publishMail(UNASSIGNED, waitingEvent(r, now)));
        }
      }
      events.push(this.dispatchAll(fresh, now, true, msgOf));
    });
    await Promise.all(events);
    for (const r of requests) r.msg.ack();
  }

  /**
   * Several assignments at once: per account, `queuedPerEvent` at a time, one EmailsQueued
   * (an EmailQueued when alone), then each message's work item. `msgOf`: the request each
   * message came from, whose trace its publishes carry on (the batch's span links to them all).
   */
  private async dispatchAll(as: readonly Assignment[], now: Date, first: boolean, msgOf?: ReadonlyMap<string, JsMsg>): Promise<void> {
    const per = Math.min(MAX_QUEUED_PER_EVENT, Math.max(1, this.deps.queuedPerEvent ?? 1));
    const within = <T>(a: Assignment, fn: () => Promise<T>) => (msgOf ? withMessageContext(msgOf.get(a.messageId), fn) : fn());
    const byAccount = new Map<string, Assignment[]>();
    for (const a of as) {
      const list = byAccount.get(a.accountId);
      if (list) list.push(a);
      else byAccount.set(a.accountId, [a]);
    }
    const chunks = [...byAccount.values()].flatMap((list) => Array.from({ length: Math.ceil(list.length / per) }, (_, i) => list.slice(i * per, (i + 1) * per)));
    await Promise.all(
      chunks.map(async (chunk) => {
        if (chunk.length === 1) return within(chunk[0]!, () => this.dispatch(chunk[0]!, now, first));
        const accountId = chunk[0]!.accountId;
        const batch = emailsQueued(accountId, chunk.map((a) => this.queuedEvent(a, now)));
        const msgs = msgOf ? chunk.flatMap((a) => msgOf.get(a.messageId) ?? []) : [];
        await withLinkedMessages('queued publish', msgs, () =>
          publishEvent(this.deps.bus, this.deps.bus.subjects.mail(accountId, MAIL_BATCH_SUBJECT_TOKEN.EmailsQueued), batch),
        );
        await Promise.all(chunk.map((a) => within(a, () => this.publishWorkItem(a, now, first))));
      }),
    );
  }

  /** `EmailQueued`, then the work item (its id from message, assignment and attempt). `first`: its first queueing (dispatch wait is measured). */
  private async dispatch(a: Assignment, now: Date, first = false): Promise<void> {
    await this.publishMail(a.accountId, this.queuedEvent(a, now));
    await this.publishWorkItem(a, now, first);
  }

  private queuedEvent(a: Assignment, now: Date): EmailQueued {
    return {
      id: eventIds.attempt(a.messageId, a.assignment, a.attempt, 'queued'),
      type: 'EmailQueued',
      version: 1,
      occurredAt: now.toISOString(),
      accountId: a.accountId,
      messageId: a.messageId,
      data: {
        assignment: a.assignment,
        attempt: a.attempt,
        kind: a.kind,
        to: a.recipient,
        subject: a.subject,
        ...(a.campaignId ? { campaignId: a.campaignId } : {}),
        requestedAt: a.requestedAt.toISOString(),
        ...(this.leadership ? { leaderEpoch: this.leadership.epoch } : {}),
      },
    };
  }

  private async publishWorkItem(a: Assignment, now: Date, first: boolean): Promise<void> {
    if (first) metrics.dispatchWait.observe(Math.max(0, now.getTime() - a.requestedAt.getTime()) / 1000);
    await publishWork(this.deps.bus, {
      messageId: a.messageId,
      accountId: a.accountId,
      assignment: a.assignment,
      attempt: a.attempt,
      dispatchedAt: now.toISOString(),
      ...(this.leadership ? { leaderEpoch: this.leadership.epoch } : {}),
    });
  }

  private publishMail(accountToken: string, event: MailEvent): Promise<unknown> {
    return publishEvent(this.deps.bus, this.deps.bus.subjects.mail(accountToken, MAIL_SUBJECT_TOKEN[event.type]), event);
  }

  /** One pass of the periodic work: expiry, due retries, waiting rows given room. */
  async tick(): Promise<void> {
    const now = this.clock();
    const expired = await this.deps.db.tx(async (tx) => {
      await this.fence(tx);
      return expireDue(tx, now, 1_000);
    });
    await Promise.all(
      expired.map((e) =>
        this.publishMail(e.accountId ?? UNASSIGNED, {
          id: eventIds.expired(e.messageId),
          type: 'EmailExpired',
          version: 1,
          occurredAt: now.toISOString(),
          ...(e.accountId ? { accountId: e.accountId } : {}),
          messageId: e.messageId,
          data: { expiresAt: e.expiresAt.toISOString() },
        }),
      ),
    );
    const due = await this.deps.db.tx(async (tx) => {
      await this.fence(tx);
      return takeDueRetries(tx, now, 500);
    });
    await this.dispatchAll(due, now, false);
    await this.assignWaiting();
  }

  async assignWaiting(): Promise<number> {
    const [any] = await this.deps.db.query(sql`SELECT EXISTS (SELECT 1 FROM deliveries WHERE state = 'waiting') AS w`);
    if (!any?.w) return 0;
    return this.exclusive(async () => {
      const now = this.clock();
      const assigned = await this.deps.db.tx(async (tx) => {
        await this.fence(tx);
        const waiting = await lockWaiting(tx, 1_000);
        if (waiting.length === 0) return [];
        const choice = assign(
          waiting.map((w) => ({ messageId: w.messageId, kind: w.kind, pinnedAccountId: w.pinnedAccountId })),
          await this.candidates(tx, now),
        );
        const pairs = [...choice].filter((p): p is [string, string] => p[1] !== null).map(([messageId, accountId]) => ({ messageId, accountId }));
        return assignWaiting(tx, pairs, now);
      });
      await this.dispatchAll(assigned, now, true);
      if (assigned.length) this.deps.log.info({ count: assigned.length }, 'waiting messages given room');
      return assigned.length;
    });
  }

  /**
   * Work items the log lost (a crash between the ledger write and the publish, a server
   * that lost its tail): compares assigned rows per account with what DISPATCH holds and
   * republishes the account's items where the log has fewer. Duplicates are harmless.
   */
  async reconcile(): Promise<number> {
    const now = this.clock();
    const ledger = await assignedCounts(this.deps.db, new Date(now.getTime() - 10_000));
    if (ledger.size === 0) return 0;
    const info = await this.deps.bus.jsm.streams.info(streamName(this.deps.bus.ns, 'DISPATCH'), { subjects_filter: this.deps.bus.subjects.dispatches });
    const inLog = info.state.subjects ?? {};
    let republished = 0;
    for (const [accountId, n] of ledger) {
      if ((inLog[this.deps.bus.subjects.dispatch(accountId)] ?? 0) >= n) continue;
      const rows = await assignedOf(this.deps.db, accountId, 10_000);
      await Promise.all(rows.map((a) => this.dispatch(a, now)));
      republished += rows.length;
      this.deps.log.warn({ accountId, count: rows.length }, 'republished work items missing from DISPATCH');
    }
    return republished;
  }
}

function waitingEvent(r: NewDelivery, now: Date): MailEvent {
  return {
    id: eventIds.waiting(r.messageId),
    type: 'EmailWaiting',
    version: 1,
    occurredAt: now.toISOString(),
    messageId: r.messageId,
    data: {
      kind: r.kind,
      to: r.recipient,
      subject: r.content.subject,
      ...(r.campaignId ? { campaignId: r.campaignId } : {}),
      requestedAt: r.requestedAt.toISOString(),
      reason: r.pinnedAccountId ? 'pinned_account_has_no_room' : 'no_account_has_room',
    },
  };
}
