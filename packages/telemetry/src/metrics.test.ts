import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { PostbusMetrics, cached1, cached2, metricsAuthorized, metricsEndpoint } from './metrics.js';

describe('labelled child caches', () => {
  it('make each child once per label values and hand back the same one', () => {
    let made = 0;
    const one = cached1((a) => ({ a, n: ++made }));
    expect(one('x')).toBe(one('x'));
    expect(one('y')).not.toBe(one('x'));
    expect(made).toBe(2);
    const two = cached2((a, b) => ({ a, b, n: ++made }));
    expect(two('acc_1', 'sent')).toBe(two('acc_1', 'sent'));
    expect(two('acc_1', 'failed')).not.toBe(two('acc_1', 'sent'));
    // No key string is joined: ('a|b', 'c') and ('a', 'b|c') stay apart.
    expect(two('a|b', 'c')).not.toBe(two('a', 'b|c'));
    expect(made).toBe(6);
  });
});

describe('PostbusMetrics', () => {
  it('counts sends by account and outcome through cached children', async () => {
    const m = new PostbusMetrics(new Registry());
    m.send('acc_1', 'sent').inc();
    m.send('acc_1', 'sent').inc();
    m.send('acc_2', 'failed').inc();
    const text = await m.registry.metrics();
    expect(text).toContain('postbus_sends_total{account="acc_1",outcome="sent"} 2');
    expect(text).toContain('postbus_sends_total{account="acc_2",outcome="failed"} 1');
  });

  it('replaces sampled series: queue depth and account states of accounts gone disappear', async () => {
    const m = new PostbusMetrics(new Registry());
    m.setQueueDepths(new Map([['acc_1', 12], ['none', 3]]));
    m.setAccountStates([{ id: 'acc_1', status: 'suspended' }, { id: 'acc_2', status: 'active' }]);
    let text = await m.registry.metrics();
    expect(text).toContain('postbus_queue_depth{account="acc_1"} 12');
    expect(text).toContain('postbus_queue_depth{account="none"} 3');
    expect(text).toContain('postbus_account_state{account="acc_1",state="suspended"} 1');
    m.setQueueDepths(new Map([['acc_2', 1]]));
    m.setAccountStates([{ id: 'acc_1', status: 'active' }]);
    text = await m.registry.metrics();
    expect(text).not.toContain('postbus_queue_depth{account="acc_1"}');
    expect(text).toContain('postbus_queue_depth{account="acc_2"} 1');
    expect(text).not.toContain('state="suspended"');
    expect(text).toContain('postbus_account_state{account="acc_1",state="active"} 1');
  });

  it('observes dispatch wait in a histogram and serves process metrics, event-loop lag among them, once enabled', async () => {
    const m = new PostbusMetrics(new Registry());
    m.dispatchWait.observe(0.2);
    expect(await m.registry.metrics()).not.toContain('nodejs_eventloop_lag_seconds');
    const scrape = metricsEndpoint(undefined, m);
    metricsEndpoint(undefined, m); // twice: default metrics are registered once
    const r = await scrape(undefined);
    expect(r.status).toBe(200);
    expect(r.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body).toContain('postbus_dispatch_wait_seconds_bucket{le="0.25"} 1');
    expect(r.body).toContain('nodejs_eventloop_lag_seconds');
    expect(r.body).toContain('process_resident_memory_bytes');
  });
});

describe('the metrics token', () => {
  it('none configured: anyone; configured: exactly `Bearer <token>`', () => {
    expect(metricsAuthorized('', undefined)).toBe(true);
    expect(metricsAuthorized(undefined, 'Bearer x')).toBe(true);
    expect(metricsAuthorized('s3cret', 'Bearer s3cret')).toBe(true);
    expect(metricsAuthorized('s3cret', 'bearer s3cret')).toBe(true);
    for (const h of [undefined, '', 'Bearer', 'Bearer s3cre', 'Bearer s3cret2', 'Basic s3cret', 's3cret']) expect(metricsAuthorized('s3cret', h), String(h)).toBe(false);
  });

});
