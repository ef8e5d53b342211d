import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { failingChecks, natsAnswers, registerHealthRoutes } from './health-routes.js';

describe('readiness checks', () => {
  it('names, in order, the checks that failed or did not answer in time', async () => {
    const failing = await failingChecks(
      { nats: () => new Promise(() => undefined), postgres: () => Promise.resolve(1), cache: () => Promise.reject(new Error('down')) },
      50,
    );
    expect(failing).toEqual(['nats', 'cache']);
  });

  it('counts a closed NATS connection as failing without pinging it', async () => {
    let pinged = false;
    const nc = { isClosed: () => true, rtt: () => ((pinged = true), Promise.resolve(1)) };
    expect(await failingChecks({ nats: natsAnswers(nc) })).toEqual(['nats']);
    expect(pinged).toBe(false);
  });

  it('serves /healthz, /readyz (503 with the failing names) and /metrics', async () => {
    const app = Fastify();
    let up = true;
    registerHealthRoutes(app, { checks: { postgres: () => (up ? Promise.resolve() : Promise.reject(new Error('down'))) } });
    expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
    up = false;
    const notReady = await app.inject({ url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json()).toEqual({ status: 'unavailable', failing: ['postgres'] });
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(200);
    await app.close();
  });
});
