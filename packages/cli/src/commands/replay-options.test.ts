import { describe, expect, it } from 'vitest';
import { parseTime, planReplay, ReplayUsageError } from './replay-options.js';

const ns = { prefix: 't1' };
const now = new Date('2025-06-10T12:00:00.000Z');

describe('planReplay', () => {
  it('builds namespaced server-side filters from the account, per stream', () => {
    const plan = planReplay(ns, { account: 'acc_1' }, now);
    expect(plan.streams).toEqual(['MAIL']);
    expect(plan.filterOf('MAIL')).toBe('t1.mail.acc_1.>');
    expect(plan.filterOf('TRACKING')).toBe('t1.trk.acc_1.>');
    expect(plan.filterOf('ACCOUNTS')).toBe('t1.acct.acc_1');
    expect(plan.filterOf('REQUESTS')).toBeUndefined();
    expect(plan.accountId).toBe('acc_1');
  });

  it('takes the stream from the subject, and prefixes the subject with the namespace', () => {
    const plan = planReplay(ns, { subject: 'trk.acc_1.clicked' }, now);
    expect(plan.streams).toEqual(['TRACKING']);
    expect(plan.filterOf('TRACKING')).toBe('t1.trk.acc_1.clicked');
    expect(planReplay({ prefix: '' }, { subject: 'mail.*.sent' }, now).filterOf('MAIL')).toBe('mail.*.sent');
  });

  it('replays every stream of a projection unless told one, and refuses one it does not read', () => {
    expect(planReplay(ns, { into: 'mail' }, now, ['REQUESTS', 'MAIL']).streams).toEqual(['REQUESTS', 'MAIL']);
    expect(planReplay(ns, { into: 'mail', stream: 'mail' }, now, ['REQUESTS', 'MAIL']).streams).toEqual(['MAIL']);
    expect(() => planReplay(ns, { into: 'mail', stream: 'OPS' }, now, ['REQUESTS', 'MAIL'])).toThrow(/does not read OPS/);
  });

  it('refuses what it cannot resolve', () => {
    expect(() => planReplay(ns, {}, now)).toThrow(ReplayUsageError);
    expect(() => planReplay(ns, { stream: 'NOPE' }, now)).toThrow(/unknown stream "NOPE"/);
    expect(() => planReplay(ns, { subject: 'foo.>' }, now)).toThrow(/cannot tell the stream/);
    expect(() => planReplay(ns, { stream: 'MAIL', subject: 'acct.x' }, now)).toThrow(/not in stream MAIL/);
    expect(() => planReplay(ns, { account: 'a.b' }, now)).toThrow(/bad account id/);
    expect(() => planReplay(ns, { stream: 'MAIL', since: '1h', until: '2h' }, now)).toThrow(/--until is before --since/);
  });

  it('splits event types', () => {
    expect([...(planReplay(ns, { stream: 'MAIL', type: 'EmailSent, EmailFailed' }, now).types ?? [])]).toEqual(['EmailSent', 'EmailFailed']);
  });
});

describe('parseTime', () => {
  it('reads ISO times and durations back from now', () => {
    expect(parseTime('2025-06-01T10:00:00Z', now, '--since').toISOString()).toBe('2025-06-01T10:00:00.000Z');
    expect(parseTime('30m', now, '--since').toISOString()).toBe('2025-06-10T11:30:00.000Z');
    expect(parseTime('7d', now, '--since').toISOString()).toBe('2025-06-03T12:00:00.000Z');
    expect(() => parseTime('yesterday', now, '--since')).toThrow(/--since takes an ISO time/);
  });
});
