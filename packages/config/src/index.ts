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
  readonly streamReplicas: number;
  readonly logRetentionDays: number;
  readonly admin: { readonly host: string; readonly port: number; readonly user: string; readonly publicUrl: string };
  readonly orchestrator: {
    readonly waitingExpiryHours: number;
    readonly reconcileIntervalMs: number;
    readonly retryDelaysMs: readonly number[];
    readonly healthPort: number;
    /** This orchestrator's name in the leader lease. */
    readonly instanceId: string;
    /** More messages queued (waiting or not yet sent) than this raises a backlog alert (0: never). */
    readonly backlogAlertThreshold: number;
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
  };
  readonly projector: { readonly healthPort: number; readonly batchSize: number };
  readonly tracking: {
    readonly host: string;
    readonly port: number;
    /** The public https base of the tracking service: links, pixels and unsubscribe URLs point here. */
    readonly publicUrl: string;
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
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

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
    streamReplicas: int('POSTBUS_STREAM_REPLICAS', 1, 1, 5),
    logRetentionDays: int('POSTBUS_LOG_RETENTION_DAYS', 90, 1, 3650),
    admin: {
      host: str('POSTBUS_ADMIN_HOST', '127.0.0.1'),
      port: adminPort,
      user: str('POSTBUS_ADMIN_USER', 'admin'),
      publicUrl: str('POSTBUS_ADMIN_PUBLIC_URL', `http://127.0.0.1:${adminPort}`),
    },
    orchestrator: {
      waitingExpiryHours: int('POSTBUS_WAITING_EXPIRY_HOURS', 72, 1, 24 * 30),
      reconcileIntervalMs: int('POSTBUS_RECONCILE_INTERVAL_MS', 30_000, 100, 3_600_000),
      retryDelaysMs: retry,
      healthPort: int('POSTBUS_ORCHESTRATOR_HEALTH_PORT', 0, 0, 65535),
      instanceId: str('POSTBUS_ORCHESTRATOR_ID', `orchestrator-${process.pid}`),
      backlogAlertThreshold: int('POSTBUS_BACKLOG_ALERT_THRESHOLD', 10_000, 0, 100_000_000),
      alertWebhookUrl: str('POSTBUS_ALERT_WEBHOOK_URL', ''),
    },
    sender: {
      nodeId: str('POSTBUS_SENDER_NODE_ID', `sender-${process.pid}`),
      capacity: int('POSTBUS_SENDER_CAPACITY', 10_000, 0, 1_000_000),
      smtpTimeoutMs: int('POSTBUS_SMTP_TIMEOUT_MS', 60_000, 1_000, 600_000),
      clientName: str('POSTBUS_SMTP_CLIENT_NAME', 'localhost'),
      feedbackSenderId: str('POSTBUS_FEEDBACK_SENDER_ID', 'postbus'),
      healthPort: int('POSTBUS_SENDER_HEALTH_PORT', 0, 0, 65535),
    },
    tracking: {
      host: str('POSTBUS_TRACKING_HOST', '127.0.0.1'),
      port: int('POSTBUS_TRACKING_PORT', 8081, 0, 65535),
      publicUrl: str('POSTBUS_TRACKING_PUBLIC_URL', 'http://127.0.0.1:8081'),
    },
    projector: {
      healthPort: int('POSTBUS_PROJECTOR_HEALTH_PORT', 0, 0, 65535),
      batchSize: int('POSTBUS_PROJECTOR_BATCH', 500, 1, 10_000),
    },
    secrets: {
      masterKeys: str('POSTBUS_MASTER_KEYS', ''),
      masterKeysDir: str('POSTBUS_MASTER_KEYS_DIR', ''),
      masterKeyId: str('POSTBUS_MASTER_KEY_ID', ''),
      jwtSecret: str('POSTBUS_JWT_SECRET', ''),
      adminPassword: env.POSTBUS_ADMIN_PASSWORD ?? '',
      alertWebhookSecret: env.POSTBUS_ALERT_WEBHOOK_SECRET ?? '',
    },
  };
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(config.sender.feedbackSenderId)) problems.push('POSTBUS_FEEDBACK_SENDER_ID must be 1–64 letters, digits, ., _ or -');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(config.sender.nodeId)) problems.push('POSTBUS_SENDER_NODE_ID must be 1–64 letters, digits, _ or -');
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
