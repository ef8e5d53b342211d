import { jetstreamManager } from '@nats-io/jetstream';
import { bucketSpecs, streamSpecs, type StreamSpec } from '@postbus/contracts';
import { sharedNatsUrl, startNatsServer, testNamespace, type NatsServer } from '@postbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, type Bus } from './connection.js';
import { deleteNamespace, ensureBuckets, ensureStreams, ProvisioningError } from './provision.js';

const ns = testNamespace();
let bus: Bus;

beforeAll(async () => {
  bus = await connectBus({ servers: [sharedNatsUrl()], name: 'provision-int', namespace: ns });
});

afterAll(async () => {
  await deleteNamespace(bus, streamSpecs(ns), bucketSpecs(ns));
  await bus.close();
});

describe('start-up verification of streams and buckets', () => {
  it('creates and verifies every stream and bucket, and does it again idempotently', async () => {
    const infos = await ensureStreams(bus, streamSpecs(ns));
    expect(infos.map((i) => i.config.name)).toEqual(streamSpecs(ns).map((s) => s.name));
    expect(infos.find((i) => i.config.name.endsWith('_MAIL'))?.config).toMatchObject({ deny_delete: true, deny_purge: true });
    await ensureBuckets(bus, bucketSpecs(ns));
    await ensureStreams(bus, streamSpecs(ns));
    await ensureBuckets(bus, bucketSpecs(ns));
  });

  it('refuses 3 replicas on a single server, naming POSTBUS_STREAM_REPLICAS and the fix', async () => {
    const other = testNamespace();
    const specs = streamSpecs(other, { replicas: 3 });
    try {
      const err = await ensureStreams(bus, specs).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProvisioningError);
      expect((err as Error).message).toMatch(/stream [A-Z0-9]+_ACCOUNTS needs 3 replicas \(POSTBUS_STREAM_REPLICAS=3\) but this nats-server is not clustered/);
      expect((err as Error).message).toContain('set POSTBUS_STREAM_REPLICAS=1 on a single nats-server');
      const kvErr = await ensureBuckets(bus, bucketSpecs(other, { replicas: 3 })).catch((e: unknown) => e);
      expect((kvErr as Error).message).toMatch(/KV bucket \w+_postbus_config needs 3 replicas .* not clustered/);
    } finally {
      await deleteNamespace(bus, specs, bucketSpecs(other));
    }
  });

  it('names a stream whose configuration cannot be updated in place', async () => {
    const other = testNamespace();
    const specs = streamSpecs(other);
    const mail = specs.find((s) => s.base === 'MAIL')!;
    // Made by someone else as a work queue: the retention policy cannot change in place.
    await bus.jsm.streams.add({ name: mail.name, subjects: [...mail.subjects], retention: 'workqueue' });
    try {
      const err = await ensureStreams(bus, [mail]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProvisioningError);
      expect((err as Error).message).toContain(`stream ${mail.name} exists with a configuration that cannot be updated in place`);
      expect((err as Error).message).toContain('can not change retention policy');
      expect((err as Error).message).toContain('docs/operations.md');
    } finally {
      await deleteNamespace(bus, specs, []);
    }
  });

  it('names another stream that already takes the subjects', async () => {
    const other = testNamespace();
    const [accounts] = streamSpecs(other) as [StreamSpec];
    await bus.jsm.streams.add({ name: `${accounts.name}_SQUATTER`, subjects: [...accounts.subjects] });
    try {
      const err = await ensureStreams(bus, [accounts]).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/another stream on this server already takes .*acct\.>.* nats stream ls/);
    } finally {
      await bus.jsm.streams.delete(`${accounts.name}_SQUATTER`);
    }
  });
});

describe('a nats-server without JetStream', () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('stops connectBus with "start nats-server with -js"', async () => {
    await expect(connectBus({ servers: [server.url], name: 'no-js', namespace: ns })).rejects.toThrow(/JetStream is not enabled \(start nats-server with -js\)/);
  });

  it('stops ensureStreams and ensureBuckets with the missing feature and the fix', async () => {
    // A bus whose manager skipped the API check, as a client configured elsewhere might have.
    const { connect } = await import('@nats-io/transport-node');
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: 2_000 });
    const raw = { nc, jsm, js: undefined as never, ns, subjects: undefined as never, close: () => nc.close() } satisfies Bus;
    try {
      for (const attempt of [ensureStreams(raw, streamSpecs(ns)), ensureBuckets(raw, bucketSpecs(ns))]) {
        const err = await attempt.catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ProvisioningError);
        expect((err as Error).message).toContain('JetStream is not enabled on this NATS server: start nats-server with -js');
      }
    } finally {
      await nc.close();
    }
  });
});
