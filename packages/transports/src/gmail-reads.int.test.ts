import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGmailStandin, type GmailStandin, type GmailStandinOptions, type ServiceAccountKeyFile } from '@postbus/testing';
import { GmailApiError, GmailHistoryExpiredError, GmailTransport, type GmailTransportOptions } from './gmail.js';
import { parseServiceAccountKey } from './gmail-credentials.js';
import type { PacingClock } from './pacer.js';

const DOMAIN = 'reads.test';
const bounce = (n: number) => `From: mailer-daemon@googlemail.com\r\nTo: someone@${DOMAIN}\r\nSubject: Delivery Status Notification (Failure) ${n}\r\n\r\nbody ${n}\r\n`;
const failure = (p: Promise<unknown>): Promise<GmailApiError> =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => {
      expect(e).toBeInstanceOf(GmailApiError);
      return e as GmailApiError;
    },
  );
const show = (e: GmailApiError): string => `${e.call} ${e.classification.scope} ${e.classification.retryable ? 'retry' : 'final'} ${e.classification.reason}`;

describe('reading a mailbox through GmailSession (the stand-in)', () => {
  let standin: GmailStandin;
  let key: ServiceAccountKeyFile;
  beforeAll(async () => {
    standin = await startGmailStandin();
    key = await standin.createServiceAccount();
  });
  afterAll(async () => {
    await standin.close();
  });
  const newUser = (opts: { readUnitsPerSecond?: number } = {}): string => {
    const email = `r-${randomUUID().slice(0, 8)}@${DOMAIN}`;
    standin.addUser({ email, ...opts });
    return email;
  };
  const session = (user: string, opts: GmailTransportOptions = {}, sa = key) =>
    new GmailTransport({ rootUrl: standin.rootUrl, readsPerSecond: 1000, ...opts }).session({ user, serviceAccount: parseServiceAccountKey(JSON.stringify(sa), [standin.tokenUri]) });

  it('reads the current history id, then what was added to the INBOX since, and each message’s exact bytes', async () => {
    const user = newUser();
    const s = session(user);
    const start = await s.currentHistoryId();
    expect(start).toBe(String(standin.historyId(user)));
    await s.send(Buffer.from(`From: ${user}\r\nTo: x@example.com\r\nSubject: s\r\n\r\nx\r\n`)); // Sent, not INBOX: not listed
    const a = standin.deliver(user, bounce(1));
    standin.deliverToInbox(user, bounce(99), ['SPAM']);
    const b = standin.deliver(user, Buffer.from([0xfb, 0xff, 0x0d, 0x0a, 0x0d, 0x0a, 0x80]));
    const page = await s.listHistory(start);
    expect(page).toEqual({ added: [{ id: a.id, historyId: String(a.historyId) }, { id: b.id, historyId: String(b.historyId) }], historyId: String(standin.historyId(user)), more: false });
    expect(standin.requests.at(-1)?.url).toMatch(/historyTypes=messageAdded/);
    expect(standin.requests.at(-1)?.url).toMatch(/labelId=INBOX/);
    const raw = await s.getRaw(b.id);
    expect(raw.raw).toEqual(b.raw);
    expect(raw.truncated).toBe(false);
    expect(raw.historyId).toBe(String(b.historyId));
    const cut = await s.getRaw(a.id, 10);
    expect(cut.raw).toEqual(a.raw.subarray(0, 10));
    expect(cut.truncated).toBe(true);
    expect(await s.listHistory(page.historyId)).toEqual({ added: [], historyId: page.historyId, more: false });
  });

  it('pages history and searches, within the bound, oldest first', async () => {
    const user = newUser();
    const s = session(user);
    const start = await s.currentHistoryId();
    const ids = Array.from({ length: 5 }, (_, i) => standin.deliver(user, bounce(i)).id);
    const first = await s.listHistory(start, { pageSize: 2, maxPages: 2 });
    expect(first.added.map((m) => m.id)).toEqual(ids.slice(0, 4));
    expect(first.more).toBe(true);
    expect(first.historyId).toBe(first.added[3]!.historyId);
    const rest = await s.listHistory(first.historyId, { pageSize: 2, maxPages: 2 });
    expect(rest.added.map((m) => m.id)).toEqual(ids.slice(4));
    expect(rest.more).toBe(false);

    const all = await s.listMessages('in:inbox newer_than:7d', { pageSize: 2 });
    expect(all).toEqual({ ids, more: false });
    expect(await s.listMessages('in:inbox newer_than:7d', { pageSize: 2, maxPages: 1 })).toEqual({ ids: ids.slice(3), more: true });
    expect(await s.listMessages('in:inbox older_than:1d')).toEqual({ ids: [], more: false });
  });

  it('says so with a typed error when the start history id has expired', async () => {
    const user = newUser();
    const s = session(user);
    const start = await s.currentHistoryId();
    standin.deliver(user, bounce(1));
    standin.expireHistory(user);
    const err = await failure(s.listHistory(start));
    expect(err).toBeInstanceOf(GmailHistoryExpiredError);
    expect(err).toMatchObject({ errorCode: 'history_expired', status: 404, call: 'read' });
  });

  it('maps read failures as the other calls: rate limits, refused tokens, missing scopes, Google down', async () => {
    const user = newUser();
    const s = session(user);
    const id = standin.deliver(user, bounce(1)).id;
    standin.failNext(user, 'rate-limit-429', { call: 'get', retryAfterSeconds: 5 });
    const limited = await failure(s.getRaw(id));
    expect(show(limited)).toBe('read account retry provider_rate_limit');
    expect(limited.classification.retryAfterMs).toBe(5_000);
    standin.failNext(user, 'backend-error-500', { call: 'history' });
    expect(show(await failure(s.listHistory('1')))).toBe('read message retry server_unavailable');
    standin.failNext(user, 'auth-error-401', { call: 'profile' });
    expect(show(await failure(s.currentHistoryId()))).toBe('read account final auth_failed');
    expect((await s.getRaw(id)).raw.length).toBeGreaterThan(0);

    // Send-only delegation: the token has no read scope, and a raw message needs gmail.readonly.
    const sendOnly = await standin.createServiceAccount({ scopes: ['https://www.googleapis.com/auth/gmail.send'] });
    const narrow = session(user, { scopes: ['https://www.googleapis.com/auth/gmail.send'] }, sendOnly);
    expect(show(await failure(narrow.getRaw(id)))).toBe('read platform final delegation_missing');
  });

  it('meets Google’s per-user read quota as a rate limit of about a second', async () => {
    const user = newUser({ readUnitsPerSecond: 10 });
    const s = session(user);
    const id = standin.deliver(user, bounce(1)).id;
    await s.getRaw(id);
    await s.getRaw(id);
    const err = await failure(s.getRaw(id));
    expect(show(err)).toBe('read account retry provider_rate_limit');
    expect(err.classification.retryAfterMs).toBeLessThanOrEqual(1_000);
  });
});

describe('read pacing', () => {
  it('spaces reads at the rate asked for, apart from sends', async () => {
    const opts: GmailStandinOptions = { users: [`paced@${DOMAIN}`] };
    const standin = await startGmailStandin(opts);
    try {
      const key = await standin.createServiceAccount();
      let t = Date.now();
      const waits: number[] = [];
      const clock: PacingClock = { now: () => t, sleep: async (ms) => void (waits.push(ms), (t += ms)) };
      const s = new GmailTransport({ rootUrl: standin.rootUrl, readsPerSecond: 2, clock }).session({ user: `paced@${DOMAIN}`, serviceAccount: parseServiceAccountKey(key, [standin.tokenUri]) });
      for (let i = 0; i < 3; i++) await s.currentHistoryId();
      expect(waits).toEqual([500, 500]);
      await s.send(Buffer.from(`From: paced@${DOMAIN}\r\nTo: x@example.com\r\nSubject: s\r\n\r\nx\r\n`));
      expect(waits).toEqual([500, 500]);
    } finally {
      await standin.close();
    }
  });
});
