/**
 * Configuration is parsed once, in a service's main.ts, into a typed and frozen object;
 * nothing else reads process.env. Secrets (master keys, JWT key, admin password) are kept
 * apart in `secrets` so that `describeConfig` can log everything else.
 */
export interface PostbusConfig {
  readonly natsServers: readonly string[];
  readonly databaseUrl: string;
  /** Subject and stream prefix; empty in production. */
  readonly namespace: string;
  readonly logLevel: string;
  /** OTLP/HTTP base URL for traces (`POSTBUS_OTLP_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`); empty: tracing off. */
  readonly otlpEndpoint: string;
  readonly streamReplicas: number;
  readonly logRetentionDays: number;
  readonly admin: {
    readonly host: string;
    readonly port: number;
    readonly user: string;
    readonly publicUrl: string;
    /** A token bucket per authenticated user, and one per client address for requests without a valid token (429 beyond). */
    readonly rateLimit: { readonly userPerSecond: number; readonly userBurst: number; readonly ipPerSecond: number; readonly ipBurst: number };
    /** How long a user's role, state and token version are cached: another instance's change to a user takes effect within it. */
    readonly userCacheMs: number;
  };
  readonly orchestrator: {
    readonly waitingExpiryHours: number;
    readonly reconcileIntervalMs: number;
    readonly retryDelaysMs: readonly number[];
    readonly healthPort: number;
    /** This orchestrator's name in the leader lease. */
    readonly instanceId: string;
    /** More messages queued (waiting or not yet sent) than this raises a backlog alert (0: never). */
    readonly backlogAlertThreshold: number;
    /** A running campaign has at most this many messages requested and not yet at an outcome: what a pause lets through. */
    readonly campaignWindow: number;
    /**
     * Messages per EmailsQueued when one dispatch gives an account several (1: an EmailQueued
     * each). Projectors read EmailsQueued from the version that made 500 the default; upgrade
     * them first (docs/operations.md, "Upgrading").
     */
    readonly queuedPerEvent: number;
    /** Where alerts are POSTed (signed with alertWebhookSecret), or empty. */
    readonly alertWebhookUrl: string;
  };
  readonly sender: {
    readonly nodeId: string;
    /** Accounts this node offers to work (the leader never places more here). */
    readonly capacity: number;
    readonly smtpTimeoutMs: number;
    /** Our name in EHLO. */
    readonly clientName: string;
    /** The last field of every Feedback-ID header (Gmail's feedback loop): this deployment's id. */
    readonly feedbackSenderId: string;
    readonly healthPort: number;
    /**
     * Sends per MAIL event: 1 writes an EmailSent per send; more gathers an account's sends into
     * EmailsSent (at most this many, waiting at most `sentLingerMs`). Projectors read EmailsSent
     * since the version before the one that made 100 the default (docs/operations.md, "Upgrading").
     */
    readonly sendsPerEvent: number;
    readonly sentLingerMs: number;
  };
  /** Gmail API accounts (admin: key checks; sender: the API and its pacing). */
  readonly gmail: {
    /** The API's root URL (googleapis `rootUrl`); Google's by default. */
    readonly apiUrl: string;
    /** Token endpoints a service-account key may name besides Google's own (tests: a stand-in). */
    readonly trustedTokenUris: readonly string[];
    /** Sends a minute per Gmail user (Gmail's per-user quota is about 150). */
    readonly sendsPerMinute: number;
    /** How long after a send began a Sent-mail search may still miss it (Gmail's index lags). */
    readonly sentLookupWindowMs: number;
  };
  readonly projector: { readonly healthPort: number; readonly batchSize: number };
  /** The bounce processor (bounces, feedback-loop complaints, mailed unsubscribes). */
  readonly bounces: {
    readonly healthPort: number;
    /** Pause between passes over the mailboxes. */
    readonly pollIntervalMs: number;
    /** A report mail is read up to this many bytes. */
    readonly maxReportBytes: number;
    /** This many soft bounces of one address within the window suppress it. */
    readonly softBounceLimit: number;
    readonly softBounceWindowDays: number;
    /** Rates are judged once an account sent at least this many in 24 h (DESIGN.md "Rates"). */
    readonly rateMinSample: number;
    /** Percentages: hard bounces to pause; complaints to alert and to pause; policy rejections to alert. */
    readonly hardBouncePausePercent: number;
    readonly complaintAlertPercent: number;
    readonly complaintPausePercent: number;
    readonly policyAlertPercent: number;
    /**
     * The platform's unsubscribe mailbox (read by the bounce processor as a 'feedback' mailbox):
     * when set, every bulk message's List-Unsubscribe offers `mailto:` it too. Empty: https only.
     */
    readonly unsubscribeMailbox: string;
  };
  readonly tracking: {
    readonly host: string;
    readonly port: number;
    /** The public https base of the tracking service: links, pixels and unsubscribe URLs point here. */
    readonly publicUrl: string;
  };
  /** The sponsor gateway (leads and offers for partners and landing pages) and the sponsor rules the admin applies. */
  readonly sponsorGateway: {
    readonly host: string;
    readonly port: number;
    /** Landing-page origins allowed by CORS (exact `scheme://host[:port]`); none by default. */
    readonly corsOrigins: readonly string[];
    /** Tests and development only: forwarding endpoints may be plain http and private, loopback or link-local. */
    readonly allowPrivateEndpoints: boolean;
    /** How long a lead token from an offer click is valid. */
    readonly leadTokenTtlSeconds: number;
    /** The forwarder's pause between looks at the outbox. */
    readonly forwardPollMs: number;
    /** First retry delay; doubled per attempt up to an hour. */
    readonly retryBaseMs: number;
    readonly maxAttempts: number;
    readonly forwardTimeoutMs: number;
  };
  readonly secrets: {
    /** `id:base64key` pairs; the first is used for new encryptions unless masterKeyId says otherwise. */
    readonly masterKeys: string;
    readonly masterKeysDir: string;
    readonly masterKeyId: string;
    readonly jwtSecret: string;
    readonly adminPassword: string;
    /** HMAC key for the alert webhook's signature. */
    readonly alertWebhookSecret: string;
    /** When set, every /metrics answers only `Authorization: Bearer <token>`; empty: /metrics is public. */
    readonly metricsToken: string;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Node's flags for every long-running service process (docker-compose.yml, `postbus demo`, the
 * tests' Platform and so `bench:send`). `--single-threaded-gc`: V8 collects garbage on the main
 * thread only, without helper threads. On the 2-core machine of issue 2 the helpers' wake-ups
 * cost more than they saved: `bench:send`, three interleaved pairs +29 % emails/s and −25 % CPU
 * per email across all processes; two more pairs later +20 % and −15 %. Services here keep heaps of a few hundred MB at most, where
 * collection on the main thread stays short. Not settable through NODE_OPTIONS.
 */
export const SERVICE_NODE_ARGS: readonly string[] = ['--single-threaded-gc'];

/** Messages per EmailsQueued unless POSTBUS_QUEUED_PER_EVENT says otherwise (the most one may carry). */
export const DEFAULT_QUEUED_PER_EVENT = 500;

/** Sends per MAIL event unless POSTBUS_SENDS_PER_EVENT says otherwise. */
export const DEFAULT_SENDS_PER_EVENT = 100;
/** How long a send waits for others to share its EmailsSent, unless POSTBUS_SENT_LINGER_MS says otherwise. */
export const DEFAULT_SENT_LINGER_MS = 100;

export function loadConfig(env: Env = process.env): PostbusConfig {
  const problems: string[] = [];
  const str = (name: string, fallback: string) => env[name]?.trim() || fallback;
  const int = (name: string, fallback: number, min: number, max: number) => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer between ${min} and ${max}`);
      return fallback;
    }
    return n;
  };
  const pct = (name: string, fallback: number) => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0 || n > 100) {
      problems.push(`${name} must be a percentage above 0 and at most 100`);
      return fallback;
    }
    return n;
  };
  const namespace = str('POSTBUS_NAMESPACE', '');
  if (namespace && !/^[a-z][a-z0-9]{0,15}$/.test(namespace)) problems.push('POSTBUS_NAMESPACE must be a lower-case token of at most 16 characters');
  const retry = str('POSTBUS_RETRY_DELAYS_MS', '60000,300000,900000').split(',').map((x) => Number(x.trim()));
  if (retry.some((n) => !Number.isInteger(n) || n < 0)) problems.push('POSTBUS_RETRY_DELAYS_MS must be a comma list of milliseconds');
  const adminPort = int('POSTBUS_ADMIN_PORT', 8080, 0, 65535);
  const config: PostbusConfig = {
    natsServers: str('POSTBUS_NATS_URL', 'nats://127.0.0.1:4222').split(',').map((s) => s.trim()).filter(Boolean),
    databaseUrl: str('POSTBUS_DATABASE_URL', 'postgres://root@127.0.0.1:5432/postbus'),
    namespace,
    logLevel: str('POSTBUS_LOG_LEVEL', 'info'),
    otlpEndpoint: str('POSTBUS_OTLP_ENDPOINT', str('OTEL_EXPORTER_OTLP_ENDPOINT', '')),
    streamReplicas: int('POSTBUS_STREAM_REPLICAS', 1, 1, 5),
    logRetentionDays: int('POSTBUS_LOG_RETENTION_DAYS', 90, 1, 3650),
    admin: {
      host: str('POSTBUS_ADMIN_HOST', '127.0.0.1'),
      port: adminPort,
      user: str('POSTBUS_ADMIN_USER', 'admin'),
      publicUrl: str('POSTBUS_ADMIN_PUBLIC_URL', `http://127.0.0.1:${adminPort}`),
      rateLimit: {
        userPerSecond: int('POSTBUS_ADMIN_RATE_PER_SECOND', 200, 1, 1_000_000),
        userBurst: int('POSTBUS_ADMIN_RATE_BURST', 2_000, 1, 10_000_000),
        ipPerSecond: int('POSTBUS_ADMIN_IP_RATE_PER_SECOND', 50, 1, 1_000_000),
        ipBurst: int('POSTBUS_ADMIN_IP_RATE_BURST', 2_000, 1, 10_000_000),
      },
      userCacheMs: int('POSTBUS_ADMIN_USER_CACHE_MS', 1_000, 0, 60_000),
    },
    orchestrator: {
      waitingExpiryHours: int('POSTBUS_WAITING_EXPIRY_HOURS', 72, 1, 24 * 30),
      reconcileIntervalMs: int('POSTBUS_RECONCILE_INTERVAL_MS', 30_000, 100, 3_600_000),
      retryDelaysMs: retry,
      healthPort: int('POSTBUS_ORCHESTRATOR_HEALTH_PORT', 0, 0, 65535),
      instanceId: str('POSTBUS_ORCHESTRATOR_ID', `orchestrator-${process.pid}`),
      backlogAlertThreshold: int('POSTBUS_BACKLOG_ALERT_THRESHOLD', 10_000, 0, 100_000_000),
      campaignWindow: int('POSTBUS_CAMPAIGN_WINDOW', 200, 1, 100_000),
      queuedPerEvent: int('POSTBUS_QUEUED_PER_EVENT', DEFAULT_QUEUED_PER_EVENT, 1, 500),
      alertWebhookUrl: str('POSTBUS_ALERT_WEBHOOK_URL', ''),
    },
    sender: {
      nodeId: str('POSTBUS_SENDER_NODE_ID', `sender-${process.pid}`),
      capacity: int('POSTBUS_SENDER_CAPACITY', 10_000, 0, 1_000_000),
      smtpTimeoutMs: int('POSTBUS_SMTP_TIMEOUT_MS', 60_000, 1_000, 600_000),
      clientName: str('POSTBUS_SMTP_CLIENT_NAME', 'localhost'),
      feedbackSenderId: str('POSTBUS_FEEDBACK_SENDER_ID', 'postbus'),
      healthPort: int('POSTBUS_SENDER_HEALTH_PORT', 0, 0, 65535),
      sendsPerEvent: int('POSTBUS_SENDS_PER_EVENT', DEFAULT_SENDS_PER_EVENT, 1, 500),
      sentLingerMs: int('POSTBUS_SENT_LINGER_MS', DEFAULT_SENT_LINGER_MS, 1, 1_000),
    },
    tracking: {
      host: str('POSTBUS_TRACKING_HOST', '127.0.0.1'),
      port: int('POSTBUS_TRACKING_PORT', 8081, 0, 65535),
      publicUrl: str('POSTBUS_TRACKING_PUBLIC_URL', 'http://127.0.0.1:8081'),
    },
    gmail: {
      apiUrl: str('POSTBUS_GMAIL_API_URL', 'https://gmail.googleapis.com/'),
      trustedTokenUris: str('POSTBUS_GMAIL_TRUSTED_TOKEN_URIS', '').split(',').map((s) => s.trim()).filter(Boolean),
      sendsPerMinute: int('POSTBUS_GMAIL_SENDS_PER_MINUTE', 150, 1, 100_000),
      sentLookupWindowMs: int('POSTBUS_GMAIL_SENT_LOOKUP_WINDOW_MS', 300_000, 0, 86_400_000),
    },
    bounces: {
      healthPort: int('POSTBUS_BOUNCES_HEALTH_PORT', 0, 0, 65535),
      pollIntervalMs: int('POSTBUS_BOUNCES_POLL_MS', 30_000, 100, 3_600_000),
      maxReportBytes: int('POSTBUS_BOUNCES_MAX_REPORT_BYTES', 10 * 1024 * 1024, 64 * 1024, 100 * 1024 * 1024),
      softBounceLimit: int('POSTBUS_SOFT_BOUNCE_LIMIT', 3, 1, 100),
      softBounceWindowDays: int('POSTBUS_SOFT_BOUNCE_WINDOW_DAYS', 7, 1, 365),
      rateMinSample: int('POSTBUS_RATE_MIN_SAMPLE', 100, 1, 10_000_000),
      hardBouncePausePercent: pct('POSTBUS_HARD_BOUNCE_PAUSE_PERCENT', 5),
      complaintAlertPercent: pct('POSTBUS_COMPLAINT_ALERT_PERCENT', 0.1),
      complaintPausePercent: pct('POSTBUS_COMPLAINT_PAUSE_PERCENT', 0.3),
      policyAlertPercent: pct('POSTBUS_POLICY_ALERT_PERCENT', 5),
      unsubscribeMailbox: str('POSTBUS_UNSUBSCRIBE_MAILBOX', ''),
    },
    projector: {
      healthPort: int('POSTBUS_PROJECTOR_HEALTH_PORT', 0, 0, 65535),
      batchSize: int('POSTBUS_PROJECTOR_BATCH', 500, 1, 10_000),
    },
    sponsorGateway: {
      host: str('POSTBUS_SPONSOR_GATEWAY_HOST', '127.0.0.1'),
      port: int('POSTBUS_SPONSOR_GATEWAY_PORT', 8082, 0, 65535),
      corsOrigins: str('POSTBUS_SPONSOR_CORS_ORIGINS', '').split(',').map((s) => s.trim()).filter(Boolean),
      allowPrivateEndpoints: str('POSTBUS_SPONSOR_ALLOW_PRIVATE_ENDPOINTS', '0') === '1',
      leadTokenTtlSeconds: int('POSTBUS_LEAD_TOKEN_TTL_SECONDS', 3600, 60, 7 * 86400),
      forwardPollMs: int('POSTBUS_SPONSOR_FORWARD_POLL_MS', 1000, 50, 600_000),
      retryBaseMs: int('POSTBUS_SPONSOR_RETRY_BASE_MS', 5000, 10, 3_600_000),
      maxAttempts: int('POSTBUS_SPONSOR_MAX_ATTEMPTS', 12, 1, 100),
      forwardTimeoutMs: int('POSTBUS_SPONSOR_FORWARD_TIMEOUT_MS', 10_000, 100, 120_000),
    },
    secrets: {
      masterKeys: str('POSTBUS_MASTER_KEYS', ''),
      masterKeysDir: str('POSTBUS_MASTER_KEYS_DIR', ''),
      masterKeyId: str('POSTBUS_MASTER_KEY_ID', ''),
      jwtSecret: str('POSTBUS_JWT_SECRET', ''),
      adminPassword: env.POSTBUS_ADMIN_PASSWORD ?? '',
      alertWebhookSecret: env.POSTBUS_ALERT_WEBHOOK_SECRET ?? '',
      metricsToken: env.POSTBUS_METRICS_TOKEN?.trim() ?? '',
    },
  };
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(config.sender.feedbackSenderId)) problems.push('POSTBUS_FEEDBACK_SENDER_ID must be 1–64 letters, digits, ., _ or -');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(config.sender.nodeId)) problems.push('POSTBUS_SENDER_NODE_ID must be 1–64 letters, digits, _ or -');
  for (const u of config.gmail.trustedTokenUris) if (!/^https?:\/\/[^\s]+$/.test(u)) problems.push('POSTBUS_GMAIL_TRUSTED_TOKEN_URIS must be a comma list of http(s) URLs');
  if (!/^https?:\/\/[^\s]+\/$/.test(config.gmail.apiUrl)) problems.push('POSTBUS_GMAIL_API_URL must be an http(s) URL ending in /');
  if (config.bounces.unsubscribeMailbox && !/^[^\s@<>,;"]+@[A-Za-z0-9.-]+$/.test(config.bounces.unsubscribeMailbox)) problems.push('POSTBUS_UNSUBSCRIBE_MAILBOX must be a plain address');
  for (const o of config.sponsorGateway.corsOrigins) if (!/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(o)) problems.push('POSTBUS_SPONSOR_CORS_ORIGINS must be a comma list of origins (scheme://host[:port])');
  if (problems.length) throw new ConfigError(problems);
  return deepFreeze(config);
}

/** The configuration without its secrets, for a start-up log line. */
export function describeConfig(c: PostbusConfig): object {
  const { secrets, databaseUrl, ...rest } = c;
  return {
    ...rest,
    databaseUrl: databaseUrl.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@'),
    secrets: Object.fromEntries(Object.entries(secrets).map(([k, v]) => [k, v ? '(set)' : '(unset)'])),
  };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
