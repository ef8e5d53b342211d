import { timingSafeEqual } from 'node:crypto';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics (`postbus_*`). Labels are bounded: an account id (bounded by the number of
 * accounts), an outcome, a kind — never an address, a message id or a token. The hot paths (a
 * send, a tracking hit) take a labelled child from a cache: two Map lookups, no allocation.
 */

/** Labelled children cached by their label values (one level). */
export function cached1<T>(make: (a: string) => T): (a: string) => T {
  const m = new Map<string, T>();
  return (a) => {
    let c = m.get(a);
    if (c === undefined) m.set(a, (c = make(a)));
    return c;
  };
}

/** Labelled children cached by their label values (two levels: no key string is built). */
export function cached2<T>(make: (a: string, b: string) => T): (a: string, b: string) => T {
  const outer = new Map<string, Map<string, T>>();
  return (a, b) => {
    let inner = outer.get(a);
    if (inner === undefined) outer.set(a, (inner = new Map()));
    let c = inner.get(b);
    if (c === undefined) inner.set(b, (c = make(a, b)));
    return c;
  };
}

export interface Inc {
  inc(n?: number): void;
}

/** Every Postbus metric, on one registry. A process serves the registry at /metrics. */
export class PostbusMetrics {
  readonly registry: Registry;
  private processMetrics = false;

  // sender
  private readonly sendsTotal: Counter<'account' | 'outcome'>;
  readonly leaseChanges: Counter<'change'>;
  readonly placements: Counter<'change'>;
  private readonly workerRestartsTotal: Counter<'account'>;
  // orchestrator
  readonly queueDepth: Gauge<'account'>;
  readonly dispatchWait: Histogram;
  readonly epochChanges: Counter;
  private readonly alertsRaised: Counter<'kind' | 'severity'>;
  readonly accountState: Gauge<'account' | 'state'>;
  readonly streamBytes: Gauge<'stream'>;
  readonly streamMessages: Gauge<'stream'>;
  readonly jetstreamStorage: Gauge;
  readonly jetstreamStorageLimit: Gauge;
  readonly postgresBytes: Gauge;
  // projector
  readonly projectionLag: Gauge<'projection' | 'stream'>;
  // tracking
  private readonly trackingHitsTotal: Counter<'kind' | 'source'>;
  // bounce processor
  private readonly bouncesTotal: Counter<'account' | 'kind'>;
  private readonly complaintsTotal: Counter<'account'>;
  readonly bounceRate: Gauge<'account'>;
  readonly complaintRate: Gauge<'account'>;

  /** A send's outcome (the MAIL event's subject token: sent, send_failed, failed, uncertain, suppressed, expired, …). */
  readonly send: (account: string, outcome: string) => Inc;
  readonly workerRestart: (account: string) => Inc;
  readonly alert: (kind: string, severity: string) => Inc;
  /** kind: open | click | unsubscribe; source: e.g. human | scanner | prefetch. */
  readonly trackingHit: (kind: string, source: string) => Inc;
  /** kind: hard | soft. */
  readonly bounce: (account: string, kind: string) => Inc;
  readonly complaint: (account: string) => Inc;

  constructor(registry = new Registry()) {
    this.registry = registry;
    const r = [registry];
    this.sendsTotal = new Counter({ name: 'postbus_sends_total', help: 'Send outcomes recorded by the sender, by account and outcome', labelNames: ['account', 'outcome'], registers: r });
    this.leaseChanges = new Counter({ name: 'postbus_sender_lease_changes_total', help: "Sender node lease changes (acquired, lost)", labelNames: ['change'], registers: r });
    this.placements = new Counter({ name: 'postbus_sender_placements_total', help: 'Account workers started and stopped on this sender node', labelNames: ['change'], registers: r });
    this.workerRestartsTotal = new Counter({ name: 'postbus_worker_restarts_total', help: 'Account workers that failed and are restarted (infrastructure outages not counted)', labelNames: ['account'], registers: r });
    this.queueDepth = new Gauge({ name: 'postbus_queue_depth', help: 'Open ledger rows (waiting, assigned, claimed, sending, retry_wait) per account, sampled; account "none" is mail waiting for an account', labelNames: ['account'], registers: r });
    this.dispatchWait = new Histogram({
      name: 'postbus_dispatch_wait_seconds',
      help: 'Time from EmailRequested to EmailQueued (assignment to an account)',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400],
      registers: r,
    });
    this.epochChanges = new Counter({ name: 'postbus_epoch_changes_total', help: 'Account placements made by the orchestrator leader, each under a new epoch', registers: r });
    this.alertsRaised = new Counter({ name: 'postbus_alerts_raised_total', help: 'AlertRaised events appended by the orchestrator, by kind and severity', labelNames: ['kind', 'severity'], registers: r });
    this.accountState = new Gauge({ name: 'postbus_account_state', help: 'Each account: 1 on its current status (active, paused, suspended, paused_*), sampled', labelNames: ['account', 'state'], registers: r });
    this.streamBytes = new Gauge({ name: 'postbus_stream_bytes', help: 'JetStream stream size in bytes (sampled by the orchestrator)', labelNames: ['stream'], registers: r });
    this.streamMessages = new Gauge({ name: 'postbus_stream_messages', help: 'JetStream stream message count (sampled by the orchestrator)', labelNames: ['stream'], registers: r });
    this.jetstreamStorage = new Gauge({ name: 'postbus_jetstream_storage_bytes', help: "The JetStream account's file storage in use", registers: r });
    this.jetstreamStorageLimit = new Gauge({ name: 'postbus_jetstream_storage_limit_bytes', help: "The JetStream account's file storage limit (absent when unlimited)", registers: r });
    this.postgresBytes = new Gauge({ name: 'postbus_postgres_database_bytes', help: 'pg_database_size of the Postbus database (sampled by the orchestrator)', registers: r });
    this.projectionLag = new Gauge({ name: 'postbus_projection_lag_messages', help: "A stream's last sequence minus the projection's checkpoint on it", labelNames: ['projection', 'stream'], registers: r });
    this.trackingHitsTotal = new Counter({ name: 'postbus_tracking_hits_total', help: 'Tracking hits answered, by kind (open, click, unsubscribe) and source', labelNames: ['kind', 'source'], registers: r });
    this.bouncesTotal = new Counter({ name: 'postbus_bounces_total', help: 'Bounces recorded by the bounce processor, by account and kind (hard, soft)', labelNames: ['account', 'kind'], registers: r });
    this.complaintsTotal = new Counter({ name: 'postbus_complaints_total', help: 'Complaints (feedback-loop reports) recorded, by account', labelNames: ['account'], registers: r });
    this.bounceRate = new Gauge({ name: 'postbus_bounce_rate', help: 'Hard-bounce rate over the last 24 h (0–1), when judged', labelNames: ['account'], registers: r });
    this.complaintRate = new Gauge({ name: 'postbus_complaint_rate', help: 'Complaint rate over the last 24 h (0–1), when judged', labelNames: ['account'], registers: r });

    this.send = cached2((account, outcome) => this.sendsTotal.labels(account, outcome));
    this.workerRestart = cached1((account) => this.workerRestartsTotal.labels(account));
    this.alert = cached2((kind, severity) => this.alertsRaised.labels(kind, severity));
    this.trackingHit = cached2((kind, source) => this.trackingHitsTotal.labels(kind, source));
    this.bounce = cached2((account, kind) => this.bouncesTotal.labels(account, kind));
    this.complaint = cached1((account) => this.complaintsTotal.labels(account));
  }

  /** Replaces the account state series: one per account, on its current status, value 1. */
  setAccountStates(accounts: Iterable<{ id: string; status: string }>): void {
    this.accountState.reset();
    for (const a of accounts) this.accountState.labels(a.id, a.status).set(1);
  }

  /** Replaces the queue depth series: accounts with nothing open read 0 once, then vanish. */
  setQueueDepths(depths: ReadonlyMap<string, number>): void {
    this.queueDepth.reset();
    for (const [account, n] of depths) this.queueDepth.labels(account).set(n);
  }

  /** Process metrics (CPU, memory, handles, GC, event-loop lag): once, for a process that serves them. */
  enableProcessMetrics(): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
  }
}

/** The process's metrics: every service records into this one and serves it at /metrics. */
export const metrics = new PostbusMetrics();

export interface MetricsReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** Whether an Authorization header carries the bearer token (constant time); no token configured: anyone. */
export function metricsAuthorized(token: string | undefined, authorization: string | undefined): boolean {
  if (!token) return true;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1]!);
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/**
 * The /metrics answer, for any HTTP server: the registry's text exposition, or 401 when a
 * token is configured (POSTBUS_METRICS_TOKEN) and the request does not carry it.
 */
export function metricsEndpoint(token: string | undefined, m: PostbusMetrics = metrics): (authorization: string | undefined) => Promise<MetricsReply> {
  m.enableProcessMetrics();
  return async (authorization) => {
    if (!metricsAuthorized(token, authorization)) return { status: 401, contentType: 'text/plain; charset=utf-8', body: 'unauthorized\n' };
    return { status: 200, contentType: m.registry.contentType, body: await m.registry.metrics() };
  };
}
