import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckedPublisher } from '@postbus/bus';
import { newId, streamName, type OpensRecorded } from '@postbus/contracts';
import { startNatsServer, startTestEnvironment, type NatsServer, type TestEnvironment } from '@postbus/testing';
import { connectBus, ensureStreams } from '@postbus/bus';
import { streamSpecs } from '@postbus/contracts';

/** One account's opens of one flush, as the tracking service publishes them (ids unique here, so each publish is a new fact). */
const opened = (messageId = newId('msg'), id = newId('evt')): OpensRecorded => ({
  id,
  type: 'OpensRecorded',
  version: 1,
  occurredAt: new Date().toISOString(),
  accountId: 'acc_01J0000000000000000000000A',
  data: { opens: [{ id: `${messageId}.opened.human.203101020304`, messageId, occurredAt: new Date().toISOString(), source: 'human' }] },
});

describe('AckedPublisher (many publishes in flight, each acknowledged by the stream)', () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await startTestEnvironment('acked-publisher');
  });
  afterAll(async () => {
    await env?.close();
  });

  it('resolves each publish once the stream stored it, and a repeated id is stored once', async () => {
    const p = new AckedPublisher(env.bus, 5_000);
    const subject = env.bus.subjects.tracking('acc_01J0000000000000000000000A', 'opened');
    const events = Array.from({ length: 2_000 }, () => opened());
    await Promise.all(events.map((e) => p.publish(subject, e)));
    await Promise.all(events.slice(0, 100).map((e) => p.publish(subject, e)));
    expect(p.size).toBe(0);
    const info = await env.bus.jsm.streams.info(streamName(env.ns, 'TRACKING'));
    expect(info.state.messages).toBe(2_000);
    p.close();
  });

  it('fails a publish no stream takes, and refuses an invalid event before sending it', async () => {
    const p = new AckedPublisher(env.bus, 5_000);
    await expect(p.publish(`${env.ns.prefix}.nowhere.at.all`, opened())).rejects.toMatchObject({ code: 'log_unavailable' });
    await expect(p.publish(env.bus.subjects.tracking('acc_01J0000000000000000000000A', 'opened'), { ...opened(), type: 'Nope' } as unknown as OpensRecorded)).rejects.toThrow();
    p.close();
  });
});

describe('AckedPublisher while NATS is away (its own server)', () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it('times out what was not acknowledged, and publishes again once NATS is back', async () => {
    const ns = { prefix: 'ap' };
    const bus = await connectBus({ servers: [nats.url], name: 'acked-publisher-test', namespace: ns });
    await ensureStreams(bus, streamSpecs(ns));
    const p = new AckedPublisher(bus, 1_000);
    const subject = bus.subjects.tracking('acc_01J0000000000000000000000A', 'opened');
    await p.publish(subject, opened());
    await nats.kill();
    const started = Date.now();
    await expect(p.publish(subject, opened())).rejects.toMatchObject({ code: 'log_unavailable' });
    expect(Date.now() - started).toBeLessThan(5_000);
    await nats.start();
    let ok = false;
    for (let i = 0; i < 40 && !ok; i++) {
      ok = await p.publish(subject, opened()).then(() => true, () => false);
      if (!ok) await new Promise((r) => setTimeout(r, 250));
    }
    expect(ok).toBe(true);
    p.close();
    await bus.close();
  }, 30_000);
});
