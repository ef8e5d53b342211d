import { Kvm, KvWatchInclude, type KV } from '@nats-io/kv';
import { MAX_CAMPAIGN_TRACKING, PostbusError, RUNTIME_SETTINGS_KEY, RuntimeSettingsPatch, StoredRuntimeSettings, bucketName, checker, type RuntimeSettings } from '@postbus/contracts';
import type { Bus } from './connection.js';
import { isWrongRevision } from './lease.js';

const isPatch = checker(RuntimeSettingsPatch);
const isStored = checker(StoredRuntimeSettings);

export interface RuntimeLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

async function openConfig(bus: Bus): Promise<KV> {
  return new Kvm(bus.nc).open(bucketName(bus.ns, 'postbus_config'));
}

/** What is stored, validated; an invalid or missing value is an empty patch. */
function parse(value: Uint8Array | undefined): StoredRuntimeSettings | undefined {
  if (!value || value.length === 0) return {};
  try {
    const v: unknown = JSON.parse(Buffer.from(value).toString('utf8'));
    return isStored.Check(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The platform's runtime settings, kept current by a KV watch: `get()` is always the latest
 * stored value over the service's defaults. A stored value that does not validate is logged
 * and ignored (the last good one stays).
 */
export class RuntimeSettingsWatch {
  /** The defaults with the stored patch over them, merged when a value arrives (read per message by the sender). */
  private current: RuntimeSettings;
  private revision = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private iterator: { stop(): void } | undefined;

  private constructor(private readonly defaults: RuntimeSettings, private readonly log: RuntimeLog) {
    this.current = defaults;
  }

  static async start(bus: Bus, defaults: RuntimeSettings, log: RuntimeLog): Promise<RuntimeSettingsWatch> {
    const w = new RuntimeSettingsWatch(defaults, log);
    const kv = await openConfig(bus);
    // Watch first, then read: an update in between is seen by one or the other, and only a
    // newer revision replaces what is applied.
    const it = await kv.watch({ key: RUNTIME_SETTINGS_KEY, include: KvWatchInclude.UpdatesOnly });
    w.iterator = it;
    const entry = await kv.get(RUNTIME_SETTINGS_KEY);
    if (entry && entry.operation === 'PUT') w.apply(entry.value, entry.revision);
    w.loop = (async () => {
      for await (const e of it) {
        if (w.stopped) break;
        if (e.operation === 'PUT') w.apply(e.value, e.revision);
        else if (e.revision > w.revision) {
          w.current = w.defaults;
          w.revision = e.revision;
        }
      }
    })().catch((err: unknown) => log.warn({ err }, 'runtime settings watch ended'));
    return w;
  }

  get(): RuntimeSettings {
    return this.current;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.iterator?.stop();
    await this.loop;
  }

  private apply(value: Uint8Array, revision: number): void {
    if (revision <= this.revision) return;
    this.revision = revision;
    const patch = parse(value);
    if (!patch) {
      this.log.warn({ revision }, 'ignoring invalid runtime settings');
      return;
    }
    this.current = { ...this.defaults, ...patch };
    this.log.info({ revision, settings: this.get() }, 'runtime settings');
  }
}

/** The stored settings (only what was set) and their revision (0: never set). */
export async function readRuntimeSettings(bus: Bus): Promise<{ stored: StoredRuntimeSettings; revision: number }> {
  const kv = await openConfig(bus);
  const e = await kv.get(RUNTIME_SETTINGS_KEY);
  if (!e || e.operation !== 'PUT') return { stored: {}, revision: e?.revision ?? 0 };
  return { stored: parse(e.value) ?? {}, revision: e.revision };
}

/**
 * Merges a patch into the stored settings with optimistic concurrency (the revision read);
 * a change that came in between makes it fail with `concurrent_change`.
 */
export async function updateRuntimeSettings(bus: Bus, patch: RuntimeSettingsPatch): Promise<{ stored: StoredRuntimeSettings; revision: number }> {
  if (!isPatch.Check(patch)) throw new PostbusError('runtime_settings_invalid', 'invalid runtime settings', { status: 422 });
  const kv = await openConfig(bus);
  const { stored, revision } = await readRuntimeSettings(bus);
  const { campaignTracking: campaigns, ...rest } = patch;
  const next: StoredRuntimeSettings = { ...stored, ...rest };
  if (campaigns) {
    const merged = { ...stored.campaignTracking };
    for (const [tag, value] of Object.entries(campaigns)) {
      if (value === null) delete merged[tag];
      else merged[tag] = value;
    }
    if (Object.keys(merged).length > MAX_CAMPAIGN_TRACKING) {
      throw new PostbusError('runtime_settings_invalid', `at most ${MAX_CAMPAIGN_TRACKING} campaigns may have their own tracking switches`, { status: 422 });
    }
    next.campaignTracking = merged;
  }
  const body = Buffer.from(JSON.stringify(next));
  try {
    const rev = revision === 0 ? await kv.create(RUNTIME_SETTINGS_KEY, body) : await kv.update(RUNTIME_SETTINGS_KEY, body, revision);
    return { stored: next, revision: rev };
  } catch (err) {
    if (isWrongRevision(err)) {
      throw new PostbusError('concurrent_change', 'the runtime settings changed meanwhile; read them again', { status: 409, retryable: true });
    }
    throw err;
  }
}
