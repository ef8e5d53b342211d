import { newId, decodeEvent, streamName, type PostbusEvent, type StreamBase } from '@postbus/contracts';
import { TokenKeyring, generateMasterKey, parseMasterKeys } from '@postbus/secrets';
import { silentLogger } from '@postbus/telemetry';
import { sharedNatsUrl, startTestEnvironment, type TestEnvironment } from '@postbus/testing';
import type { FastifyInstance } from 'fastify';
import { buildTracking, ensureOutbox, type TrackingDeps } from '../src/index.js';

/**
 * Test support (outside src/ so that it is neither built nor collected as a test): the
 * file's own NATS namespace with its streams and its own migrated database, the tracking app
 * on top, driven through app.inject().
 */
export interface StoredEvent {
  readonly subject: string;
  readonly msgId: string | undefined;
  readonly raw: string;
  readonly event: PostbusEvent;
}

export interface Harness {
  readonly env: TestEnvironment;
  readonly app: FastifyInstance;
  readonly tokens: TokenKeyring;
  readonly deps: TrackingDeps;
  /** Another app over the same resources with some deps replaced (closed by close()). */
  variant(overrides: Partial<TrackingDeps>): Promise<FastifyInstance>;
  /** Everything stored in one of the namespace's streams, oldest first. */
  events(base: StreamBase): Promise<StoredEvent[]>;
  close(): Promise<void>;
}

/** Master keys as the sender would have them: tokens issued here open in the app. */
export function testTokenKeyring(): TokenKeyring {
  return TokenKeyring.fromMasterKeys(parseMasterKeys(`k1:${generateMasterKey()}`), 'k1');
}

export async function startHarness(name: string, overrides: Partial<TrackingDeps> = {}): Promise<Harness> {
  const env = await startTestEnvironment(`tracking-${name}`);
  await ensureOutbox(env.db);
  const tokens = testTokenKeyring();
  // Opens go through the open worker, as in the service (main.ts).
  const deps: TrackingDeps = { bus: env.bus, natsServers: [sharedNatsUrl()], db: env.db, tokens, log: silentLogger(), ...overrides };
  const app = await buildTracking(deps);
  const variants: FastifyInstance[] = [];
  return {
    env,
    app,
    tokens,
    deps,
    async variant(o) {
      const v = await buildTracking({ ...deps, ...o });
      variants.push(v);
      return v;
    },
    async events(base) {
      const stream = streamName(env.ns, base);
      const { state } = await env.bus.jsm.streams.info(stream);
      const out: StoredEvent[] = [];
      for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
        const m = await env.bus.jsm.streams.getMessage(stream, { seq });
        if (!m) continue;
        const raw = Buffer.from(m.data).toString('utf8');
        out.push({ subject: m.subject, msgId: m.header?.get('Nats-Msg-Id'), raw, event: decodeEvent(raw) });
      }
      return out;
    },
    async close() {
      for (const v of variants) await v.close();
      await app.close();
      await env.close();
    },
  };
}

export const ids = () => ({ messageId: newId('msg'), accountId: newId('acc') });

/** A unique recipient per test, so tests in one file never share a suppression row. */
export const recipient = (label = 'reader') => `${label}.${newId('req').slice(-8).toLowerCase()}@example.org`;
