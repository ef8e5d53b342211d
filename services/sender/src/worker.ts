import { performance } from 'node:perf_hooks';
import type { JsMsg } from '@postbus/bus';
import { publishEvent, recreateDurable, runBatchLoop, sleep, withLinkedMessages, withMessageContext, type AccountDirectory, type Bus } from '@postbus/bus';
import {
  MAIL_BATCH_SUBJECT_TOKEN,
  MAIL_SUBJECT_TOKEN,
  WORK_ACK_WAIT_MS,
  WorkItem,
  checker,
  effectiveDailyLimit,
  streamName,
  workerConsumerName,
  type AccountState,
  type EmailsSent,
  type MailEvent,
} from '@postbus/contracts';
import {
  StaleEpochError,
  advance,
  claimBatch,
  isDatabaseUnavailable,
  listUncertain,
  releaseClaims,
  startEpoch,
  type AdvanceInput,
  type AdvanceResult,
  type ClaimedMessage,
  type Database,
  type Outcome,
  type SecretCipher,
} from '@postbus/db';
import { DEFAULT_SENT_LINGER_MS } from '@postbus/config';
import { metrics, type Logger } from '@postbus/telemetry';
import { expiredEvent, outcomeEvent, settledEvent, suppressedEvent, type AttemptRef } from './domain/events.js';
import { AccountSmtp } from './adapters/account-smtp.js';
import { AccountGmail, type GmailOptions } from './adapters/account-gmail.js';
import { headerMessageIdOf, type ComplianceSettings, type Fault, type SendResult } from './adapters/compose.js';
import { SentMailResolver } from './adapters/sent-mail-resolver.js';
import { lookupTiming } from './domain/sent-lookup.js';
import { SentBatch } from './sent-batch.js';

/** The node's lease ran out mid-batch: the worker stops; the node starts it again once it holds a lease. */
export class LeaseLostError extends Error {
  constructor() {
    super('the node lease ran out');
    this.name = 'LeaseLostError';
  }
}

export interface WorkerDeps {
  readonly bus: Bus;
  readonly db: Database;
  readonly directory: AccountDirectory;
  readonly cipher: SecretCipher;
  readonly log: Logger;
  readonly clock?: () => Date;
  readonly retryDelaysMs?: readonly number[];
  readonly accountBackoffMs?: number;
  readonly smtpTimeoutMs?: number;
  readonly clientName?: string;
  /** Test hook: accept self-signed certificates. */
  readonly rejectUnauthorized?: boolean;
  /** Called after each claim with the time the suppression list was read (invariant 1 is judged by it). */
  readonly onClaim?: (info: { accountId: string; messageIds: string[]; suppressionReadAt: Date }) => void;
  /** The node's shared advance: calls of several workers that arrive together go in one statement. */
  readonly advance?: (input: AdvanceInput) => Promise<AdvanceResult>;
  /** The node's lease: no transaction starts unless it is valid, and none outlives its deadline. */
  readonly lease: LeaseView;
  readonly nodeId: string;
  readonly compliance: ComplianceSettings;
  /** Limits how many workers of the node start at once. */
  readonly startGate?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Gmail API accounts: where the API is, its pace, and how long Sent-mail lookups go on. */
  readonly gmail?: GmailOptions;
  /** Sends per MAIL event (1: an EmailSent each; more: EmailsSent of up to this many, see SentBatch). */
  readonly sendsPerEvent?: number;
  /** How long a send waits for others to share its EmailsSent. */
  readonly sentLingerMs?: number;
}

export interface LeaseView {
  valid(): boolean;
  remainingMs(): number;
}

const isWorkItem = checker(WorkItem);

interface Work {
  readonly item: WorkItem;
  readonly msg: JsMsg;
}

/**
 * One account's worker: its own DISPATCH consumer and SMTP session, one message at a time
 * with the account's delay. Claim (epoch, suppression, quota, ledger) → compose → mark
 * `sending` → send → outcome → event → ack.
 */
export class AccountWorker {
  /** Monotonic time of the last send's start: the account's delay is measured from it. */
  private lastSendAt = -Infinity;
  /** True once the worker has settled its predecessors' leftovers and is taking work. */
  ready = false;
  private readonly smtp: AccountSmtp;
  /** A Gmail account's session, made at its first use. */
  private gmail: AccountGmail | undefined;
  /** A Gmail account's `uncertain` sends being looked up in its Sent mail. */
  private resolver: SentMailResolver | undefined;
  private readonly clock: () => Date;
  private readonly log: Logger;
  /** Event publishes (and the acks behind them) still in flight: the next batch need not wait for them. */
  private readonly inflight = new Set<Promise<void>>();
  /** The account's sends gathered into EmailsSent, when more than one goes in an event. */
  private readonly sentBatch: SentBatch | undefined;

  /**
   * @param restarted this node ran a worker of this account before (it may have left work
   * unacknowledged on the consumer)
   */
  constructor(readonly accountId: string, readonly epoch: number, private readonly deps: WorkerDeps, private readonly restarted = false) {
    this.clock = deps.clock ?? (() => new Date());
    this.log = deps.log.child({ accountId });
    this.smtp = new AccountSmtp({ ...deps, clock: this.clock, log: this.log });
    const sendsPerEvent = deps.sendsPerEvent ?? 1;
    if (sendsPerEvent > 1) {
      this.sentBatch = new SentBatch(accountId, {
        maxSends: sendsPerEvent,
        lingerMs: deps.sentLingerMs ?? DEFAULT_SENT_LINGER_MS,
        // The batch's span links to each send's: one event cannot continue all their traces.
        publish: (batch, msgs) => withLinkedMessages('sends publish', msgs, () => this.publish(batch)),
      });
    }
  }

  /**
   * Records an outcome (and marks the next message) — and keeps trying while Postgres is away:
   * the worker knows what the server answered, and a lost outcome would leave the row `sending`
   * until the next epoch calls it `uncertain`. Gives up only when the worker stops.
   */
  private async advance(input: AdvanceInput, signal?: AbortSignal): Promise<AdvanceResult> {
    let delay = 250;
    for (;;) {
      try {
        return await (this.deps.advance ? this.deps.advance(input) : advance(this.deps.db, input));
      } catch (err) {
        if (!isDatabaseUnavailable(err) || signal?.aborted) throw err;
        this.log.warn({ err }, 'database unavailable: holding the outcome until it is back');
        await sleep(delay, signal);
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }

  private get account(): AccountState {
    const a = this.deps.directory.get(this.accountId);
    if (!a) throw new Error(`account ${this.accountId} is not in the directory`);
    return a;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { bus, db } = this.deps;
    const stream = streamName(bus.ns, 'DISPATCH');
    const consumer = workerConsumerName(this.accountId);
    const gate = this.deps.startGate ?? ((fn) => fn());
    let start;
    try {
      start = await gate(() => startEpoch(db, this.accountId, this.clock(), this.epoch));
    } catch (err) {
      if (err instanceof StaleEpochError) return; // placed again meanwhile: the node starts the newer one
      throw err;
    }
    // A fresh consumer for each run: whatever a previous worker (a dead node, an older
    // epoch) was handed and never acknowledged comes to this one at once. At most two batches
    // are out at a time, so a worker never sits on work it will not reach for a long while.
    const { batchSize, sendDelayMs } = this.account.settings;
    // An account's first worker ever, with nothing left behind, has no consumer to hand back.
    const fresh = this.epoch === 1 && !this.restarted && start.reset.length + start.uncertain.length + start.quarantined.length === 0;
    await gate(() => recreateDurable(bus, {
      stream,
      name: consumer,
      filterSubject: bus.subjects.dispatch(this.accountId),
      // Two batches at the account's pace, plus 30 s for the sends themselves. Short enough that
      // acknowledgements lost to a NATS restart (up to max_ack_pending of them) stall the account
      // for seconds, not minutes; a slow send past it only gets a redelivered copy skipped.
      ackWaitMs: Math.max(WORK_ACK_WAIT_MS / 2, 2 * batchSize * sendDelayMs + 30_000),
      maxAckPending: Math.max(10, batchSize * 2),
    }, { fresh }));
    this.ready = true;
    this.log.info({ epoch: start.epoch, reset: start.reset.length, uncertain: start.uncertain.length, quarantined: start.quarantined.length }, 'worker started');
    const now = this.clock();
    await Promise.all([
      ...start.uncertain.map((r) => this.publish(outcomeEvent(this.ref(r), { kind: 'uncertain', messageId: r.messageId, reason: 'worker_stopped_during_send' }, now, now))),
      ...start.quarantined.map((r) => this.publish(outcomeEvent(this.ref(r), { kind: 'failed', messageId: r.messageId, reason: 'quarantined' }, now, now))),
    ]);
    const stopped = new AbortController();
    const onAbort = () => stopped.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let resolving: Promise<void> | undefined;
    try {
      if (this.account.provider === 'gmail') resolving = (await this.startResolver(stopped.signal)).done;
      await runBatchLoop(bus, {
        stream,
        consumer,
        batchSize: () => this.account.settings.batchSize,
        signal: stopped.signal,
        spanName: 'worker process',
        handle: async (batch) => {
          try {
            await this.handle(batch, stopped.signal);
          } catch (err) {
            if (err instanceof StaleEpochError || err instanceof LeaseLostError) {
              this.log.warn({ err }, err instanceof LeaseLostError ? 'node lease ran out: stopping' : 'epoch taken by a newer worker: stopping');
              stopped.abort();
              return;
            }
            throw err;
          }
        },
        onError: (err) => this.log.error({ err }, 'batch failed; its work items will come back'),
      });
    } finally {
      signal.removeEventListener('abort', onAbort);
      stopped.abort();
      this.sentBatch?.flush(); // what it holds goes now, not after its linger
      await Promise.all(this.inflight);
      await resolving;
      this.smtp.close();
      this.gmail?.close();
    }
  }

  /** The account's way out: its SMTP session, or the Gmail API. */
  private sendOne(account: AccountState, c: ClaimedMessage, now: Date, next: ClaimedMessage | undefined): Promise<SendResult> {
    if (account.provider === 'smtp') return this.smtp.send(account, c, now, this.deps.lease, next);
    return this.gmailOut().send(account, c, now, this.deps.lease);
  }

  private gmailOut(): AccountGmail {
    return (this.gmail ??= new AccountGmail({ ...this.deps, clock: this.clock, log: this.log }));
  }

  /**
   * A Gmail account's `uncertain` sends (a dead worker's, or ones Gmail never answered) are
   * looked up in its Sent mail before anything is sent — one pass, bounded — and then in the
   * background until each is found or its window has passed. Found: `sent`; never resent.
   */
  private async startResolver(signal: AbortSignal): Promise<{ done: Promise<void> }> {
    const windowMs = this.deps.gmail?.sentLookupWindowMs ?? 300_000;
    const resolver = new SentMailResolver({
      db: this.deps.db,
      log: this.log,
      clock: this.clock,
      accountId: this.accountId,
      epoch: this.epoch,
      timing: lookupTiming(windowMs),
      headerMessageIdOf: (messageId) => headerMessageIdOf(messageId, this.account.fromAddress),
      findSent: (headerMessageId) => this.gmailOut().findSent(this.account, headerMessageId),
      publish: (event) => this.publish(event),
    });
    this.resolver = resolver;
    // Looked up again after any restart: a found message is recorded, a missing one past its window stays.
    const since = new Date(this.clock().getTime() - Math.max(windowMs, 3_600_000));
    for (const r of await listUncertain(this.deps.db, this.accountId, since)) {
      resolver.add({ messageId: r.messageId, assignment: r.assignment, attempt: r.attempt, sendingAt: r.sendingAt ?? r.outcomeAt ?? this.clock() });
    }
    if (resolver.size > 0) {
      const first = new AbortController();
      const t = setTimeout(() => first.abort(), 10_000);
      await resolver.runOnce(first.signal).catch((err: unknown) => this.log.warn({ err }, 'first sent-mail lookup failed; continuing in the background'));
      clearTimeout(t);
      this.log.info({ left: resolver.size }, 'uncertain sends looked up in Sent mail');
    }
    return { done: resolver.run(signal) };
  }

  /** Tells the leader (which owns the account aggregate) about a failure that is not the message's. */
  private async reportFault(fault: Fault): Promise<void> {
    const now = this.clock();
    // One report per account, reason and minute: JetStream drops the copies.
    const id = `${this.accountId}.fault.${fault.reason}.${Math.floor(now.getTime() / 60_000)}`;
    try {
      await publishEvent(this.deps.bus, this.deps.bus.subjects.ops('fault'), {
        id,
        type: 'FaultReported',
        version: 1,
        occurredAt: now.toISOString(),
        accountId: this.accountId,
        data: {
          scope: fault.scope,
          reason: fault.reason,
          ...(fault.detail ? { detail: fault.detail.slice(0, 500) } : {}),
          ...(fault.retryAfter ? { retryAfter: fault.retryAfter.toISOString() } : {}),
          nodeId: this.deps.nodeId,
        },
      });
    } catch (err) {
      this.log.warn({ err, reason: fault.reason }, 'fault not reported; the next one will be');
    }
  }

  private ref(r: { messageId: string; assignment: number; attempt: number }): AttemptRef {
    return { accountId: this.accountId, messageId: r.messageId, assignment: r.assignment, attempt: r.attempt };
  }

  /** A MAIL event of this account; a batch of sends counts in the metric as its sends. */
  private async publish(event: MailEvent | EmailsSent): Promise<void> {
    const token = event.type === 'EmailsSent' ? MAIL_BATCH_SUBJECT_TOKEN[event.type] : MAIL_SUBJECT_TOKEN[event.type];
    await publishEvent(this.deps.bus, this.deps.bus.subjects.mail(this.accountId, token), event);
    metrics.send(this.accountId, token).inc(event.type === 'EmailsSent' ? event.data.sent.length : 1);
  }

  /** Publishes, then acks: a work item is never acked before its outcome's event is stored. */
  private publishThenAck(event: MailEvent | undefined, msgs: readonly JsMsg[], pending: Promise<void>[]): void {
    // In the work item's trace: the outcome event carries it on to the projection.
    const published = !event
      ? Promise.resolve()
      : event.type === 'EmailSent' && this.sentBatch
        ? this.sentBatch.add(event, msgs)
        : withMessageContext(msgs[0], () => this.publish(event));
    const p = published.then(() => msgs.forEach((m) => m.ack()));
    pending.push(p.catch((err: unknown) => this.log.warn({ err }, 'event not published; the work item will come back')));
  }

  private async handle(batch: JsMsg[], signal: AbortSignal): Promise<void> {
    const work: Work[] = [];
    for (const msg of batch) {
      let item: unknown;
      try {
        item = JSON.parse(Buffer.from(msg.data).toString('utf8'));
      } catch {
        item = undefined;
      }
      if (!isWorkItem.Check(item) || item.accountId !== this.accountId) {
        this.log.error({ seq: msg.seq }, 'invalid work item: terminated');
        msg.term();
        continue;
      }
      work.push({ item, msg });
    }
    // A redelivered item may be the one that crashed the last worker: claim it alone, so
    // that a crash counts against it and not against the messages batched with it.
    const groups = [work.filter((w) => !w.msg.redelivered), ...work.filter((w) => w.msg.redelivered).map((w) => [w])];
    for (const group of groups) {
      if (group.length === 0) continue;
      if (signal.aborted) return; // unacked: they come back
      await this.process(group, signal);
    }
  }

  private async process(group: Work[], signal: AbortSignal): Promise<void> {
    const { db } = this.deps;
    const account = this.account;
    const now = this.clock();
    const res = await claimBatch(db, {
      accountId: this.accountId,
      epoch: this.epoch,
      items: group.map((w) => w.item),
      dailyLimit: effectiveDailyLimit(account.settings, now),
      now,
      clock: this.clock,
    });
    this.deps.onClaim?.({ accountId: this.accountId, messageIds: res.claimed.map((c) => c.messageId), suppressionReadAt: res.suppressionReadAt });
    // Invariant 1 is judged by this time: no message whose claim read the list after an unsubscribe's answer may go to that address.
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ claimed: res.claimed.map((c) => c.messageId), suppressed: res.suppressed.map((s) => s.messageId), suppressionReadAt: res.suppressionReadAt.toISOString() }, 'claimed');
    }
    const msgsOf = new Map<string, JsMsg[]>();
    for (const w of group) msgsOf.set(w.item.messageId, [...(msgsOf.get(w.item.messageId) ?? []), w.msg]);
    const take = (id: string) => {
      const m = msgsOf.get(id) ?? [];
      msgsOf.delete(id);
      return m;
    };
    const pending: Promise<void>[] = [];
    for (const s of res.suppressed) this.publishThenAck(suppressedEvent(this.ref(s), now, res.suppressionReadAt), take(s.messageId), pending);
    for (const e of res.expired) this.publishThenAck(expiredEvent(this.accountId, e.messageId, e.expiresAt, now), take(e.messageId), pending);
    for (const s of res.settled) this.publishThenAck(settledEvent(this.accountId, s), take(s.messageId), pending);
    if (res.deferred.length > 0) void this.reportFault({ scope: 'account', reason: 'limit_reached', detail: 'no room left in the daily or rolling-24 h limit' });
    for (const d of res.deferred) {
      const o: Outcome = { kind: 'retry', messageId: d.messageId, consumed: false, reason: 'limit_reached', nextAttemptAt: d.nextAttemptAt };
      this.publishThenAck(outcomeEvent(this.ref(d), o, now, now), take(d.messageId), pending);
    }
    for (const id of res.skipped) take(id).forEach((m) => m.ack());
    // Read before their rows could be checked against the suppression list: they come back.
    if (res.recheck.length > 0) this.log.warn({ messageIds: res.recheck }, 'recipients changed between read and claim: items given back');
    for (const id of res.recheck) take(id).forEach((m) => m.nak());
    let completed = false;
    try {
      await this.sendAll(res.claimed, take, pending, signal, (id) => msgsOf.get(id)?.[0]);
      completed = true;
    } finally {
      // After a full pass, anything left was a copy of an item handled above: ack. After a
      // failure (a newer epoch, the database away) what is left was never sent: it goes back.
      for (const [, msgs] of msgsOf) msgs.forEach((m) => (completed ? m.ack() : m.nak()));
      for (const p of pending) {
        this.inflight.add(p);
        void p.finally(() => this.inflight.delete(p));
      }
      // Bounded: a slow log holds the next batch back rather than piling up publishes.
      if (this.inflight.size > 500) await Promise.all(this.inflight);
    }
  }

  private async sendAll(claimed: readonly ClaimedMessage[], take: (id: string) => JsMsg[], pending: Promise<void>[], signal: AbortSignal, peek: (id: string) => JsMsg | undefined): Promise<void> {
    const { db } = this.deps;
    let prev: { c: ClaimedMessage; outcome: Outcome; startedAt: Date } | undefined;
    const settle = (r: { recorded: boolean }, at: Date) => {
      if (!prev) return;
      const msgs = take(prev.c.messageId);
      if (!r.recorded) {
        msgs.forEach((m) => m.ack()); // the row moved on (a newer worker settled it)
      } else {
        // Acked only once the event is stored: a crash before that brings the item back.
        this.publishThenAck(outcomeEvent(this.ref(prev.c), prev.outcome, at, prev.startedAt), msgs, pending);
        if (prev.outcome.kind === 'uncertain') this.resolver?.add({ ...this.ref(prev.c), sendingAt: prev.startedAt });
      }
      prev = undefined;
    };
    for (let i = 0; i < claimed.length; i++) {
      const c = claimed[i]!;
      const rest = () => claimed.slice(i).map((x) => x.messageId);
      // The account's delay runs from one send to the next, across batches too.
      const wait = this.lastSendAt + this.account.settings.sendDelayMs - performance.now();
      if (wait > 0) await sleep(wait, signal);
      const now = this.clock();
      if (signal.aborted) {
        const r = await this.advance({ accountId: this.accountId, epoch: this.epoch, now, ...(prev ? { outcome: prev.outcome } : {}) }, signal);
        settle(r, now);
        await releaseClaims(db, this.accountId, this.epoch, rest());
        rest().forEach((id) => take(id).forEach((m) => m.nak()));
        return;
      }
      if (!this.deps.lease.valid()) {
        // The node's lease ran out: record what we know, give the rest back, and stop starting.
        const r = await this.advance({ accountId: this.accountId, epoch: this.epoch, now, ...(prev ? { outcome: prev.outcome } : {}) }, signal);
        settle(r, now);
        await releaseClaims(db, this.accountId, this.epoch, rest());
        rest().forEach((id) => take(id).forEach((m) => m.nak()));
        throw new LeaseLostError();
      }
      const r = await this.advance({ accountId: this.accountId, epoch: this.epoch, now, next: c.messageId, ...(prev ? { outcome: prev.outcome } : {}) }, signal);
      settle(r, now);
      if (r.stale) throw new StaleEpochError(this.accountId, this.epoch, undefined);
      if (!r.marked) {
        take(c.messageId).forEach((m) => m.ack());
        continue;
      }
      this.lastSendAt = performance.now();
      // The next message's envelope goes behind this one; its body only after its own mark.
      const { outcome, fault } = await withMessageContext(peek(c.messageId), () => this.sendOne(this.account, c, now, claimed[i + 1]));
      prev = { c, outcome, startedAt: now };
      if (outcome.kind === 'retry' && !outcome.consumed) {
        // The account is at fault (its server unreachable, credentials refused, a provider
        // limit): stop this batch, give the rest back, hold off.
        const at = this.clock();
        settle(await this.advance({ accountId: this.accountId, epoch: this.epoch, now: at, outcome: prev.outcome }, signal), at);
        // Reported once the outcome is recorded: whatever the leader decides finds the row settled.
        if (fault) void this.reportFault(fault);
        const left = claimed.slice(i + 1).map((x) => x.messageId);
        await releaseClaims(db, this.accountId, this.epoch, left);
        left.forEach((id) => take(id).forEach((m) => m.nak(this.deps.accountBackoffMs ?? 30_000)));
        this.log.warn({ reason: outcome.reason }, 'account-scope failure: holding off');
        await sleep(Math.min(this.deps.accountBackoffMs ?? 30_000, 30_000), signal);
        return;
      }
      if (fault) void this.reportFault(fault);
    }
    if (prev) {
      const at = this.clock();
      settle(await this.advance({ accountId: this.accountId, epoch: this.epoch, now: at, outcome: prev.outcome }, signal), at);
    }
  }
}
