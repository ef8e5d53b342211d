import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeLeaseHolder, RuntimeSettingsWatch, liveNodes, openNodesBucket, readRuntimeSettings, updateRuntimeSettings } from '@postbus/bus';
import { DEFAULT_RUNTIME_SETTINGS } from '@postbus/contracts';
import { silentLogger } from '@postbus/telemetry';
import { startTestEnvironment, waitFor, type TestEnvironment } from '@postbus/testing';

describe('KV state against a real nats-server: runtime settings and node leases', () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startTestEnvironment('kv-test');
  }, 30_000);
  afterAll(async () => {
    await env?.close();
  });

  it('a runtime settings change reaches a watcher without a restart; a stale revision is refused', async () => {
    const watch = await RuntimeSettingsWatch.start(env.bus, DEFAULT_RUNTIME_SETTINGS, silentLogger());
    try {
      expect(watch.get()).toEqual(DEFAULT_RUNTIME_SETTINGS);
      await updateRuntimeSettings(env.bus, { backlogAlertThreshold: 42 });
      await waitFor(async () => watch.get().backlogAlertThreshold === 42, { timeoutMs: 5_000 });
      await updateRuntimeSettings(env.bus, { rebalanceMovesPerPass: 0 });
      await waitFor(async () => watch.get().rebalanceMovesPerPass === 0, { timeoutMs: 5_000 });
      expect(watch.get()).toEqual({ ...DEFAULT_RUNTIME_SETTINGS, backlogAlertThreshold: 42, rebalanceMovesPerPass: 0 });
      expect((await readRuntimeSettings(env.bus)).stored).toEqual({ backlogAlertThreshold: 42, rebalanceMovesPerPass: 0 });
      await expect(updateRuntimeSettings(env.bus, { maxWorkerRestartsPerHour: 0 })).rejects.toMatchObject({ code: 'runtime_settings_invalid' });
    } finally {
      await watch.stop();
    }
  });

  it('one process per node id: a second holder waits until the first lets go; the lease is valid only while held', async () => {
    const kv = await openNodesBucket(env.bus);
    const events: string[] = [];
    const mk = (name: string) =>
      new NodeLeaseHolder(kv, 'node-x', { capacity: 5, accounts: () => 0, log: silentLogger(), onLost: () => events.push(`${name} lost`), onAcquired: () => events.push(`${name} acquired`), renewMs: 200 });
    const first = mk('first');
    const second = mk('second');
    first.start();
    await waitFor(async () => first.valid(), { timeoutMs: 5_000 });
    second.start();
    await new Promise((r) => setTimeout(r, 800));
    expect(second.valid()).toBe(false);
    expect((await liveNodes(env.bus, kv)).map((n) => [n.nodeId, n.instance])).toEqual([['node-x', first.instance]]);
    expect(first.remainingMs()).toBeGreaterThan(3_000); // TTL 6 s less a second, renewed every 200 ms here
    await first.stop(); // deletes its key: the second takes it at once, without waiting out the TTL
    await waitFor(async () => second.valid(), { timeoutMs: 5_000 });
    expect(events).toEqual(['first acquired', 'second acquired']);
    await second.stop();
    expect(await liveNodes(env.bus, kv)).toEqual([]);
  });
});
