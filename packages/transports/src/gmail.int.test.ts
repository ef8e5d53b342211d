import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceAccountKey, startGmailStandin, type GmailFailureKind, type GmailStandin, type ServiceAccountKeyFile } from '@postbus/testing';
import { GmailApiError, GmailTransport, parseServiceAccountKey, type GmailTransportOptions, type PacingClock } from './index.js';

const DOMAIN = 'corp.test';
const message = (from: string, id = `${randomUUID()}@${DOMAIN}`, body = 'Hello.\r\n'): { raw: Buffer; messageId: string } => ({
  raw: Buffer.from(`From: Sender <${from}>\r\nTo: rcpt@example.com\r\nSubject: t\r\nMessage-ID: <${id}>\r\n\r\n${body}`),
  messageId: `<${id}>`,
});
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
const show = (e: GmailApiError): string => {
  const c = e.classification;
  return `${e.call} ${c.scope} ${c.retryable ? 'retry' : 'final'} ${c.reason} ${c.consumesAttempt ? 'consumes' : 'free'}`;
};

describe('GmailSession against the Gmail stand-in', () => {
  let standin: GmailStandin;
  let key: ServiceAccountKeyFile;
  beforeAll(async () => {
    standin = await startGmailStandin();
    key = await standin.createServiceAccount();
  });
  afterAll(async () => {
    await standin.close();
  });

  const newUser = (opts: { aliases?: string[]; sendsPerMinute?: number } = {}): string => {
    const email = `u-${randomUUID().slice(0, 8)}@${DOMAIN}`;
    standin.addUser({ email, ...opts });
    return email;
  };
  const session = (user: string, opts: GmailTransportOptions = {}, sa = key) =>
    new GmailTransport({ rootUrl: standin.rootUrl, sendsPerMinute: 6000, burst: 100, ...opts }).session({
      user,
      serviceAccount: parseServiceAccountKey(JSON.stringify(sa), [standin.tokenUri]),
    });
  const calls = (user: string, call: string) => standin.requests.filter((r) => r.user === user && r.call === call);

  it('sends: the token comes from the key’s token_uri and the raw bytes arrive unchanged', async () => {
    const user = newUser();
    // Bytes whose base64 has '+' and '/': only base64url gets through.
    const { raw, messageId } = message(user, undefined, 'Caf\u00e9 \u2713 >>>???\r\n\u00ff\u00fe\r\n.\r\n');
    const s = session(user);
    const res = await s.send(raw);
    const [stored] = standin.sent(user);
    expect(stored).toMatchObject({ id: res.id, threadId: res.threadId, labelIds: ['SENT'], messageId });
    expect(stored!.raw.equals(raw)).toBe(true);
    expect(calls(user, 'token').map((r) => r.status)).toEqual([200]);
    expect(calls(user, 'send').map((r) => r.status)).toEqual([200]);
    // The token is reused.
    await s.send(message(user).raw);
    expect(calls(user, 'token')).toHaveLength(1);
  });

  it('sends as a verified alias, and fails the message when From is not the user', async () => {
    const user = newUser({ aliases: [`sales@${DOMAIN}`] });
    const s = session(user);
    await s.send(message(`sales@${DOMAIN}`).raw);
    const err = await failure(s.send(message(`ceo@${DOMAIN}`).raw));
    expect(show(err)).toBe('send message final sender_rejected consumes');
    expect(err).toMatchObject({ status: 400, delivered: 'no', googleReason: 'invalidArgument' });
    expect(standin.sent(user)).toHaveLength(1);
  });

  const injected: [GmailFailureKind, string, number | undefined][] = [
    ['rate-limit-429', 'send account retry provider_rate_limit free', 17_000],
    ['rate-limit-403', 'send account retry provider_rate_limit free', undefined],
    ['user-rate-limit-403', 'send account retry provider_rate_limit free', undefined],
    ['daily-limit-403', 'send account retry provider_daily_limit free', 86_400_000],
    ['mail-sending-limit-429', 'send account retry provider_daily_limit free', 86_400_000],
    ['auth-error-401', 'send account final auth_failed free', undefined],
    ['insufficient-scope-403', 'send platform final delegation_missing free', undefined],
    ['invalid-grant', 'token account final auth_failed free', undefined],
    ['invalid-jwt-time', 'token platform final clock_skew free', undefined],
    ['unauthorized-client', 'token platform final delegation_missing free', undefined],
    ['backend-error-500', 'send message retry server_unavailable consumes', undefined],
    ['unavailable-503', 'send message retry server_unavailable consumes', undefined],
    ['bad-request-400', 'send message final bad_request consumes', undefined],
  ];
  it.each(injected)('classifies an injected %s, asking once (no library retries)', async (kind, expected, retryAfterMs) => {
    const user = newUser();
    standin.failNext(user, kind, { retryAfterSeconds: 17 });
    const err = await failure(session(user).send(message(user).raw));
    expect(show(err)).toBe(expected);
    expect(err.delivered).toBe('no');
    expect(err.classification.retryAfterMs).toBe(retryAfterMs);
    expect(calls(user, err.call).map((r) => r.injected)).toEqual([kind]);
    expect(standin.sent(user)).toHaveLength(0);
  });

  it('does not retry a failed token exchange either', async () => {
    const user = newUser();
    standin.failNext(user, 'unavailable-503', { call: 'token' });
    const err = await failure(session(user).send(message(user).raw));
    expect(show(err)).toBe('token message retry server_unavailable consumes');
    expect(calls(user, 'token')).toHaveLength(1);
  });

  it('reports a connection lost after the message was stored as uncertain, and finds it in Sent', async () => {
    const user = newUser();
    const s = session(user);
    const { raw, messageId } = message(user);
    standin.failNext(user, 'drop-after-store');
    const err = await failure(s.send(raw));
    expect(show(err)).toBe('send message final uncertain free');
    expect(err.delivered).toBe('unknown');
    expect(calls(user, 'send')).toHaveLength(1);
    expect(await s.findSent(messageId)).toBe(standin.sent(user)[0]!.id);
  });

  it('reports a connection lost before anything was stored as uncertain too; Sent says it was not sent', async () => {
    const user = newUser();
    const s = session(user);
    const { raw, messageId } = message(user);
    standin.failNext(user, 'drop-before-store');
    const err = await failure(s.send(raw));
    expect(err.classification.reason).toBe('uncertain');
    expect(await s.findSent(messageId)).toBeNull();
  });

  it('reports an unreachable API as a transient message failure, not uncertain', async () => {
    const user = newUser();
    const s = new GmailTransport({ rootUrl: 'http://127.0.0.1:1/' }).session({ user, serviceAccount: parseServiceAccountKey(JSON.stringify(key), [standin.tokenUri]) });
    const err = await failure(s.send(message(user).raw));
    expect(err).toMatchObject({ call: 'send', delivered: 'no', errorCode: 'ECONNREFUSED' });
    expect(show(err)).toBe('send message retry connection_failed consumes');
  });

  it('does not start a send it may not', async () => {
    const user = newUser();
    const err = await failure(session(user).send(message(user).raw, () => false));
    expect(err).toMatchObject({ delivered: 'no', errorCode: 'ENOTSTARTED' });
    expect(err.classification.consumesAttempt).toBe(false);
    expect(calls(user, 'send')).toHaveLength(0);
  });

  it('hits the per-minute quota as a provider rate limit with the time to wait', async () => {
    const user = newUser({ sendsPerMinute: 2 });
    const s = session(user);
    await s.send(message(user).raw);
    await s.send(message(user).raw);
    const err = await failure(s.send(message(user).raw));
    expect(show(err)).toBe('send account retry provider_rate_limit free');
    expect(err.status).toBe(429);
    expect(err.classification.retryAfterMs).toBeGreaterThan(0);
    expect(err.classification.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('suspends on a user that does not exist, or is disabled mid-session', async () => {
    const ghost = `ghost-${randomUUID().slice(0, 8)}@${DOMAIN}`;
    expect(show(await failure(session(ghost).send(message(ghost).raw)))).toBe('token account final auth_failed free');

    const user = newUser();
    const s = session(user);
    await s.send(message(user).raw);
    standin.disableUser(user);
    expect(show(await failure(s.send(message(user).raw)))).toBe('send account final auth_failed free');
    // The refused token is dropped: the next attempt asks for a new one, and is refused too.
    expect(show(await failure(s.send(message(user).raw)))).toBe('token account final auth_failed free');
  });

  it('alerts on missing delegation (a scope not granted to the service account)', async () => {
    const sendOnly = await standin.createServiceAccount({ scopes: ['https://www.googleapis.com/auth/gmail.send'] });
    const user = newUser();
    const err = await failure(session(user, {}, sendOnly).send(message(user).raw));
    expect(show(err)).toBe('token platform final delegation_missing free');
    expect(err.googleReason).toBe('unauthorized_client');
    // Asking only for what was delegated works.
    await session(user, { scopes: ['https://www.googleapis.com/auth/gmail.send'] }, sendOnly).send(message(user).raw);
    expect(standin.sent(user)).toHaveLength(1);
  });

  it('suspends on a key Google does not know', async () => {
    const { key: stranger } = await createServiceAccountKey({ tokenUri: standin.tokenUri });
    const user = newUser();
    const err = await failure(session(user, {}, stranger).send(message(user).raw));
    expect(show(err)).toBe('token account final auth_failed free');
  });

  it('never puts the private key or an access token in an error', async () => {
    const user = newUser();
    const s = session(user);
    await s.send(message(user).raw);
    const errors: unknown[] = [];
    for (const kind of ['auth-error-401', 'rate-limit-429', 'drop-after-store', 'backend-error-500'] as const) {
      standin.failNext(user, kind);
      errors.push(await s.send(message(user).raw).catch((e: unknown) => e));
    }
    s.close(); // forget the token: the next send exchanges one, and is refused
    standin.failNext(user, 'invalid-grant');
    errors.push(await s.send(message(user).raw).catch((e: unknown) => e));
    standin.failNext(user, 'backend-error-500', { call: 'list' });
    errors.push(await s.findSent('<x@y>').catch((e: unknown) => e), (() => {
      try {
        return parseServiceAccountKey(JSON.stringify(key).slice(0, -3));
      } catch (e) {
        return e;
      }
    })());
    const keyBody = key.private_key.split('\n')[5]!;
    const tokens = standin.accessTokens(user);
    expect(tokens.length).toBeGreaterThan(0);
    for (const e of errors) {
      expect(e).toBeInstanceOf(Error);
      const err = e as Error;
      for (const text of [err.message, err.stack ?? '', JSON.stringify(err), JSON.stringify({ ...err, message: err.message }), inspect(err, { depth: 10 })]) {
        expect(text).not.toContain(keyBody);
        expect(text).not.toContain('PRIVATE KEY');
        for (const t of tokens) expect(text).not.toContain(t);
        expect(text).not.toContain('ya29.');
      }
    }
    const credentials = parseServiceAccountKey(key, [standin.tokenUri]);
    for (const text of [JSON.stringify(credentials), inspect(credentials), JSON.stringify(s), inspect(s, { depth: 10 })]) {
      expect(text).not.toContain(keyBody);
    }
  });
});

describe('finding a sent message while the search index lags', () => {
  it('is not found before the lag has passed and found after', async () => {
    let offset = 0;
    const standin = await startGmailStandin({ searchLagMs: 10 * 60_000, now: () => Date.now() + offset });
    try {
      const key = await standin.createServiceAccount();
      const user = `lag@${DOMAIN}`;
      standin.addUser(user);
      const s = new GmailTransport({ rootUrl: standin.rootUrl }).session({ user, serviceAccount: parseServiceAccountKey(key, [standin.tokenUri]) });
      const { raw, messageId } = message(user);
      const { id } = await s.send(raw);
      expect(await s.findSent(messageId)).toBeNull();
      offset += 11 * 60_000;
      expect(await s.findSent(messageId)).toBe(id);
      expect(await s.findSent(`<other@${DOMAIN}>`)).toBeNull();
    } finally {
      await standin.close();
    }
  });
});

describe('a clock Google does not agree with', () => {
  it('is a platform problem (JWT time error), not the account’s', async () => {
    // Google's clock two hours ahead of ours: our assertion expired an hour ago.
    const standin = await startGmailStandin({ users: [`skew@${DOMAIN}`], now: () => Date.now() + 2 * 3_600_000 });
    try {
      const key = await standin.createServiceAccount();
      const s = new GmailTransport({ rootUrl: standin.rootUrl }).session({ user: `skew@${DOMAIN}`, serviceAccount: parseServiceAccountKey(key, [standin.tokenUri]) });
      const err = await failure(s.send(message(`skew@${DOMAIN}`).raw));
      expect(show(err)).toBe('token platform final clock_skew free');
    } finally {
      await standin.close();
    }
  });
});

describe('pacing', () => {
  it('holds the N+1th send of a minute until the bucket has a token again', async () => {
    const standin = await startGmailStandin();
    try {
      const key = await standin.createServiceAccount();
      const user = `paced@${DOMAIN}`;
      standin.addUser(user);
      let t = Date.now();
      const waits: number[] = [];
      const clock: PacingClock = {
        now: () => t,
        sleep: async (ms) => {
          waits.push(ms);
          t += ms;
        },
      };
      const start = t;
      const s = new GmailTransport({ rootUrl: standin.rootUrl, sendsPerMinute: 3, burst: 3, clock }).session({ user, serviceAccount: parseServiceAccountKey(key, [standin.tokenUri]) });
      const sentAt: number[] = [];
      for (let i = 0; i < 4; i++) {
        await s.send(message(user).raw);
        sentAt.push(t - start);
      }
      expect(sentAt).toEqual([0, 0, 0, 20_000]);
      expect(waits).toEqual([20_000]);
      expect(standin.sent(user)).toHaveLength(4);
    } finally {
      await standin.close();
    }
  });
});
