import { validateEvent, type AccountState } from '@postbus/contracts';
import { describe, expect, it } from 'vitest';
import { needsAccounts, prepareMessages, type MessageRequest } from './message-request.js';

const account = (id: string, postalAddress: string | null): AccountState => ({
  id,
  version: 1,
  name: id,
  provider: 'smtp',
  fromAddress: 'news@example.com',
  smtp: { host: 'smtp.example.com', port: 587, tls: 'starttls', user: 'u', secretId: 'sec_01J0000000000000000000000' },
  settings: { dailyLimit: 500, batchSize: 50, sendDelayMs: 0, postalAddress, fromName: null },
  status: 'active',
  registeredAt: '2030-01-01T00:00:00.000Z',
  updatedAt: '2030-01-01T00:00:00.000Z',
});

const WITH = 'acc_01J00000000000000000000001';
const WITHOUT = 'acc_01J00000000000000000000002';
const lookup = (accounts: AccountState[]) => ({ get: (id: string) => accounts.find((a) => a.id === id), all: () => accounts });
const ctx = {
  principal: 'admin',
  now: new Date('2030-01-01T00:00:00.000Z'),
  maxContentBytes: 1024,
  messageId: (i: number) => `msg_01J0000000000000000000000${i}`,
};
const msg = (over: Partial<MessageRequest> = {}): MessageRequest => ({ to: 'a@example.org', subject: 'Hi', text: 'Hello', ...over });
const both = lookup([account(WITH, '1 Street'), account(WITHOUT, null)]);

describe('prepareMessages', () => {
  it('turns valid messages into valid EmailRequested events', () => {
    const r = prepareMessages([msg(), msg({ kind: 'transactional', accountId: WITHOUT, expiresInHours: 1 })], both, ctx);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    for (const { event } of r.requests) expect(() => validateEvent(event)).not.toThrow();
    expect(r.requests[0]!.event.data.expiresAt).toBe('2030-01-04T00:00:00.000Z');
    expect(r.requests[1]!.event).toMatchObject({ accountId: WITHOUT, data: { kind: 'transactional', expiresAt: '2030-01-01T01:00:00.000Z' } });
  });

  it('reports every bad message by index and builds nothing', () => {
    const r = prepareMessages([msg(), msg({ subject: 'a\r\nb' }), msg({ to: 'x' }), msg({ text: '' })], both, ctx);
    expect(r).toEqual({
      ok: false,
      problems: [
        expect.objectContaining({ index: 1, code: 'header_injection', status: 422 }),
        expect.objectContaining({ index: 2, code: 'invalid_address', status: 422 }),
        expect.objectContaining({ index: 3, code: 'empty_body', status: 422 }),
      ],
    });
  });

  it('measures content in bytes, not characters', () => {
    const r = prepareMessages([msg({ text: 'é'.repeat(600) })], both, ctx);
    expect(r.ok ? [] : r.problems.map((p) => [p.code, p.status])).toEqual([['payload_too_large', 413]]);
  });

  it('needs a postal address for bulk mail, on the pinned account or on some account', () => {
    const code = (m: MessageRequest, accounts = both) => {
      const r = prepareMessages([m], accounts, ctx);
      return r.ok ? 'ok' : r.problems[0]!.code;
    };
    expect(code(msg({ accountId: WITHOUT }))).toBe('postal_address_required');
    expect(code(msg({ accountId: WITH }))).toBe('ok');
    expect(code(msg())).toBe('ok');
    expect(code(msg(), lookup([account(WITHOUT, '   ')]))).toBe('postal_address_required');
    expect(code(msg({ kind: 'transactional' }), lookup([]))).toBe('ok');
    expect(code(msg({ accountId: 'acc_01J00000000000000000000009', kind: 'transactional' }))).toBe('unknown_account');
  });

  it('normalises addresses and X- header prefixes, keeps TAB in header text', () => {
    const r = prepareMessages([msg({ to: 'Ann@BÜCHER.example', replyTo: 'r@Example.ORG', headers: { 'x-a': '1\t2' } })], both, ctx);
    if (!r.ok) throw new Error('refused');
    expect(r.requests[0]!.event.data.content).toMatchObject({ to: 'Ann@xn--bcher-kva.example', replyTo: 'r@example.org', headers: { 'X-a': '1\t2' } });
  });
});

describe('needsAccounts', () => {
  it('only transactional, unpinned batches skip the directory', () => {
    expect(needsAccounts([msg({ kind: 'transactional' })])).toBe(false);
    expect(needsAccounts([msg({ kind: 'transactional' }), msg()])).toBe(true);
    expect(needsAccounts([msg({ kind: 'transactional', accountId: WITH })])).toBe(true);
  });
});
