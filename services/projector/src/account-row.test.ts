import { describe, expect, it } from 'vitest';
import { evolveAccountRow, foldAccountRows, type AccountFact, type AccountRow } from './domain/account-row.js';
import { canonicalTime } from './domain/time.js';
import { account, ids } from './testing/events.js';

const fold = (...events: ReturnType<typeof account.registered>[]) =>
  events.reduce<AccountRow | null>((row, e) => evolveAccountRow(row, e as AccountFact), null);

const a = ids.account();
const t = (s: number) => new Date(Date.UTC(2025, 0, 1, 9, 0, s)).toISOString();

describe('sender_accounts fold', () => {
  it('given nothing, when registered, then a row at version 1 with no secret and no secret id', () => {
    const secretId = ids.secret();
    const row = fold(account.registered(a, t(0), secretId));
    expect(row).toEqual({
      accountId: a,
      name: 'Shop sender',
      provider: 'smtp',
      fromAddress: 'news@shop.example',
      fromName: 'Shop',
      smtpHost: 'smtp.shop.example',
      smtpPort: 587,
      smtpTls: 'starttls',
      smtpUser: 'news',
      dailyLimit: 2000,
      batchSize: 50,
      sendDelayMs: 100,
      postalAddress: '1 Main St, Springfield',
      status: 'active',
      statusReason: 'registered',
      statusActor: 'admin',
      statusSince: canonicalTime(t(0)),
      pausedUntil: null,
      warmup: null,
      registeredAt: canonicalTime(t(0)),
      updatedAt: canonicalTime(t(0)),
      version: 1,
    });
    expect(JSON.stringify(row)).not.toContain(secretId);
  });

  it('given registered, when settings change, then only those settings and the version move', () => {
    expect(fold(account.registered(a, t(0)), account.settingsChanged(a, 1, t(5), { dailyLimit: 500, postalAddress: null }))).toMatchObject({
      dailyLimit: 500,
      postalAddress: null,
      batchSize: 50,
      version: 2,
      registeredAt: canonicalTime(t(0)),
      updatedAt: canonicalTime(t(5)),
    });
  });

  it('given registered, when credentials change, then the smtp columns follow', () => {
    expect(fold(account.registered(a, t(0)), account.credentialsChanged(a, t(7), 'mail.other.example'))).toMatchObject({
      smtpHost: 'mail.other.example',
      smtpPort: 465,
      smtpTls: 'implicit',
      version: 2,
    });
  });

  it('given nothing, when settings change, then no row', () => {
    expect(fold(account.settingsChanged(a, 1, t(5), { dailyLimit: 1 }))).toBeNull();
  });

  it('folding in batches gives what folding at once gives', () => {
    const b = ids.account();
    const events = [account.registered(a, t(0)), account.registered(b, t(1)), account.settingsChanged(a, 1, t(2), { batchSize: 10 }), account.settingsChanged(b, 1, t(3), { sendDelayMs: 0 })] as AccountFact[];
    const once = foldAccountRows(new Map(), events);
    const first = foldAccountRows(new Map(), events.slice(0, 3));
    const second = foldAccountRows(first, events.slice(3));
    expect(new Map([...first, ...second])).toEqual(once);
  });
});
