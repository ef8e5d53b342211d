import { sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GMAIL_READONLY_SCOPE, GMAIL_SEND_SCOPE, createServiceAccountKey, type ServiceAccountKeyFile } from './gmail-standin-auth.js';
import { startGmailStandin, type GmailStandin } from './gmail-standin.js';

const GOOGLE_AUD = 'https://oauth2.googleapis.com/token';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

function assertion(key: ServiceAccountKeyFile, claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'RS256', typ: 'JWT' }): string {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${sign('RSA-SHA256', Buffer.from(input), key.private_key).toString('base64url')}`;
}

let clock = Date.now();
let standin: GmailStandin;
let key: ServiceAccountKeyFile;
const ALICE = 'alice@corp.test';
const BOB = 'bob@corp.test';

const claims = (extra: Record<string, unknown> = {}) => {
  const iat = Math.floor(clock / 1000);
  return { iss: key.client_email, sub: ALICE, aud: GOOGLE_AUD, scope: `${GMAIL_SEND_SCOPE} ${GMAIL_READONLY_SCOPE}`, iat, exp: iat + 3600, ...extra };
};
async function exchange(jwt: string, grantType = JWT_BEARER): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(standin.tokenUri, { method: 'POST', body: new URLSearchParams({ grant_type: grantType, assertion: jwt }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
async function tokenFor(user = ALICE, scope?: string): Promise<string> {
  const { status, body } = await exchange(assertion(key, claims({ sub: user, ...(scope ? { scope } : {}) })));
  expect(status).toBe(200);
  return body.access_token as string;
}
async function api(path: string, token: string | undefined, init: { method?: string; body?: unknown; raw?: Buffer; contentType?: string } = {}) {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  let body: string | Buffer | undefined;
  if (init.raw) {
    body = init.raw;
    headers['content-type'] = init.contentType ?? 'message/rfc822';
  } else if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(new URL(path, standin.rootUrl), { method: init.method ?? (body ? 'POST' : 'GET'), headers, ...(body ? { body } : {}) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}
const mime = (from: string, id: string, extra = ''): Buffer =>
  Buffer.from(`From: ${from}\r\nTo: x@example.com\r\nSubject: s\r\nMessage-ID: <${id}>\r\n${extra}\r\nbody ${id}\r\n`);
const send = (token: string, raw: Buffer, user = 'me') => api(`gmail/v1/users/${user}/messages/send`, token, { body: { raw: raw.toString('base64url') } });

beforeAll(async () => {
  standin = await startGmailStandin({ users: [ALICE, { email: BOB, aliases: ['sales@corp.test'] }], now: () => clock });
  key = await standin.createServiceAccount();
});
afterAll(async () => {
  await standin.close();
});

describe('the token endpoint', () => {
  it('issues a bearer token for a well-signed assertion', async () => {
    const { status, body } = await exchange(assertion(key, claims()));
    expect(status).toBe(200);
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3599 });
    expect(body.access_token).toMatch(/^ya29\./);
    // Also an assertion whose aud is the key's token_uri (as other client libraries sign it).
    expect((await exchange(assertion(key, claims({ aud: key.token_uri })))).status).toBe(200);
  });

  it.each([
    ['another grant type', () => exchange(assertion(key, claims()), 'client_credentials'), 400, 'unsupported_grant_type', /Invalid grant_type/],
    ['a wrong audience', () => exchange(assertion(key, claims({ aud: 'https://example.com/token' }))), 400, 'invalid_grant', /audience/],
    ['a lifetime over an hour', () => exchange(assertion(key, claims({ exp: Math.floor(clock / 1000) + 7200 }))), 400, 'invalid_grant', /short-lived token/],
    ['an expired assertion', () => exchange(assertion(key, claims({ iat: Math.floor(clock / 1000) - 7200, exp: Math.floor(clock / 1000) - 3700 }))), 400, 'invalid_grant', /Check your iat and exp/],
    ['an assertion from the future', () => exchange(assertion(key, claims({ iat: Math.floor(clock / 1000) + 600, exp: Math.floor(clock / 1000) + 900 }))), 400, 'invalid_grant', /reasonable timeframe/],
    ['HS256', () => exchange(assertion(key, claims(), { alg: 'HS256' })), 400, 'invalid_grant', /Signature/],
    ['an unknown user', () => exchange(assertion(key, claims({ sub: 'nobody@corp.test' }))), 400, 'invalid_grant', /Invalid email or User ID/],
    ['no user', () => exchange(assertion(key, claims({ sub: undefined }))), 400, 'invalid_grant', /Invalid email or User ID/],
    ['a scope not delegated', () => exchange(assertion(key, claims({ scope: 'https://mail.google.com/' }))), 401, 'unauthorized_client', /not authorized for any of the scopes/],
    ['no scope', () => exchange(assertion(key, claims({ scope: undefined }))), 400, 'invalid_scope', /scope/],
    ['garbage', () => exchange('not.a-jwt'), 400, 'invalid_request', /Invalid JWT/],
  ])('refuses %s like Google', async (_name, call, status, error, description) => {
    const res = await call();
    expect(res.status).toBe(status);
    expect(res.body.error).toBe(error);
    expect(res.body.error_description).toMatch(description);
  });

  it('allows a little clock skew', async () => {
    const iat = Math.floor(clock / 1000) + 30;
    expect((await exchange(assertion(key, claims({ iat, exp: iat + 3600 })))).status).toBe(200);
  });

  it('refuses a key signed by someone else, or a key it does not know', async () => {
    const { key: other } = await createServiceAccountKey({ tokenUri: standin.tokenUri, clientEmail: key.client_email });
    expect((await exchange(assertion(other, claims()))).body.error_description).toBe('Invalid JWT Signature.');
    const { key: stranger } = await createServiceAccountKey({ tokenUri: standin.tokenUri });
    const res = await exchange(assertion(stranger, claims({ iss: stranger.client_email })));
    expect(res.body).toMatchObject({ error: 'invalid_grant', error_description: 'Invalid grant: account not found' });
  });

  it('stops working for a disabled user, and revokes its tokens', async () => {
    const user = 'leaver@corp.test';
    standin.addUser(user);
    const token = await tokenFor(user);
    standin.disableUser(user);
    expect((await api('gmail/v1/users/me/profile', token)).status).toBe(401);
    expect((await exchange(assertion(key, claims({ sub: user })))).body.error).toBe('invalid_grant');
  });

  it('keeps no token or assertion in the request log', async () => {
    const token = await tokenFor();
    await api('gmail/v1/users/me/profile', token);
    const log = JSON.stringify(standin.requests);
    expect(log).not.toContain(token);
    expect(log).not.toContain('eyJ');
    expect(standin.requests.at(-1)).toMatchObject({ call: 'profile', user: ALICE, status: 200 });
  });
});

describe('messages.send', () => {
  it('stores the message with Gmail-like ids and answers { id, threadId, labelIds }', async () => {
    const token = await tokenFor();
    const raw = mime(ALICE, 's1@corp.test');
    const res = await send(token, raw);
    expect(res.status).toBe(200);
    expect(res.body.id).toMatch(/^[0-9a-f]{16}$/);
    expect(res.body).toEqual({ id: res.body.id, threadId: res.body.id, labelIds: ['SENT'] });
    expect(standin.sent(ALICE).at(-1)!.raw.equals(raw)).toBe(true);
    // The user's address instead of 'me' works too; another user's does not.
    expect((await send(token, mime(ALICE, 's2@corp.test'), encodeURIComponent(ALICE))).status).toBe(200);
    const other = await send(token, mime(ALICE, 's3@corp.test'), BOB);
    expect(other.status).toBe(403);
    expect(other.body.error.message).toBe(`Delegation denied for ${ALICE}`);
  });

  it('wants URL-safe base64 with sane padding', async () => {
    const token = await tokenFor();
    // '?>?' encodes to 'Pz4/' in standard base64 and 'Pz4_' in base64url.
    const raw = mime(ALICE, 'b64@corp.test', 'X-Bytes: ?>?>\r\n');
    expect(raw.toString('base64')).toMatch(/[+/]/);
    const standard = await api('gmail/v1/users/me/messages/send', token, { body: { raw: raw.toString('base64') } });
    expect(standard.status).toBe(400);
    expect(standard.body.error).toMatchObject({ code: 400, message: 'Invalid value for ByteString', status: 'INVALID_ARGUMENT' });
    expect(standard.body.error.errors[0]).toMatchObject({ domain: 'global', reason: 'invalidArgument' });
    for (const bad of ['QUJD=', 'Q=UJD', 'QUJDR']) {
      expect((await api('gmail/v1/users/me/messages/send', token, { body: { raw: bad } })).status).toBe(400);
    }
    const padded = raw.toString('base64url') + '='.repeat((4 - (raw.toString('base64url').length % 4)) % 4);
    expect((await api('gmail/v1/users/me/messages/send', token, { body: { raw: padded } })).status).toBe(200);
    const missing = await api('gmail/v1/users/me/messages/send', token, { body: {} });
    expect(missing.body.error.message).toMatch(/'raw' RFC822 payload/);
  });

  it('checks the From against the user and its aliases, and that there is a recipient', async () => {
    const token = await tokenFor(BOB);
    expect((await send(token, mime('Sales <sales@corp.test>', 'alias@corp.test'))).status).toBe(200);
    const foreign = await send(token, mime(ALICE, 'foreign@corp.test'));
    expect(foreign.status).toBe(400);
    expect(foreign.body.error.message).toMatch(/Invalid From header/);
    const noRcpt = await send(token, Buffer.from(`From: ${BOB}\r\nSubject: s\r\n\r\nx\r\n`));
    expect(noRcpt.body.error.message).toBe('Recipient address required');
  });

  it('takes the message on the upload path too (media and multipart)', async () => {
    const token = await tokenFor();
    const raw = mime(ALICE, 'upload@corp.test');
    const media = await api('upload/gmail/v1/users/me/messages/send?uploadType=media', token, { raw });
    expect(media.status).toBe(200);
    const boundary = 'b0undary';
    const multipart = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${boundary}\r\nContent-Type: message/rfc822\r\n\r\n`),
      raw,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await api('upload/gmail/v1/users/me/messages/send?uploadType=multipart', token, { raw: multipart, contentType: `multipart/related; boundary=${boundary}` });
    expect(res.status).toBe(200);
    expect(standin.sent(ALICE).find((m) => m.id === res.body.id)!.raw.equals(raw)).toBe(true);
  });

  it('needs a token with a sending scope', async () => {
    const readOnly = await tokenFor(ALICE, GMAIL_READONLY_SCOPE);
    const res = await send(readOnly, mime(ALICE, 'ro@corp.test'));
    expect(res.status).toBe(403);
    expect(res.body.error.errors[0].reason).toBe('insufficientPermissions');
    expect((await send('ya29.made-up', mime(ALICE, 'x@corp.test'))).status).toBe(401);
    expect((await api('gmail/v1/users/me/messages/send', undefined, { body: {} })).body.error.errors[0].reason).toBe('authError');
  });

  it('enforces the per-minute and per-day quotas with Retry-After', async () => {
    const user = 'busy@corp.test';
    standin.addUser({ email: user, sendsPerMinute: 2, sendsPerDay: 3 });
    const token = await tokenFor(user);
    expect((await send(token, mime(user, 'q1@corp.test'))).status).toBe(200);
    clock += 1_000;
    expect((await send(token, mime(user, 'q2@corp.test'))).status).toBe(200);
    const limited = await send(token, mime(user, 'q3@corp.test'));
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('59');
    expect(limited.body.error).toMatchObject({ code: 429, status: 'RESOURCE_EXHAUSTED', errors: [{ domain: 'usageLimits', reason: 'rateLimitExceeded' }] });
    clock += 60_000;
    expect((await send(token, mime(user, 'q3@corp.test'))).status).toBe(200);
    clock += 60_000;
    const daily = await send(token, mime(user, 'q4@corp.test'));
    expect(daily.status).toBe(429);
    expect(daily.body.error.message).toMatch(/\(Mail sending\)$/);
    expect(Number(daily.headers.get('retry-after'))).toBeGreaterThan(23 * 3600);
  });
});

describe('reading', () => {
  it('finds a sent message by rfc822msgid only after the search lag', async () => {
    const token = await tokenFor();
    standin.searchLagMs = 5_000;
    try {
      const { body } = await send(token, mime(ALICE, 'lag@corp.test'));
      const search = (q: string) => api(`gmail/v1/users/me/messages?q=${encodeURIComponent(q)}`, token);
      expect((await search('in:sent rfc822msgid:lag@corp.test')).body).toEqual({ resultSizeEstimate: 0 });
      clock += 5_000;
      expect((await search('in:sent rfc822msgid:<lag@corp.test>')).body).toEqual({ messages: [{ id: body.id, threadId: body.id }], resultSizeEstimate: 1 });
      expect((await search('in:inbox rfc822msgid:lag@corp.test')).body.resultSizeEstimate).toBe(0);
      const sendOnly = await tokenFor(ALICE, GMAIL_SEND_SCOPE);
      expect((await api('gmail/v1/users/me/messages?q=in:sent', sendOnly)).status).toBe(403);
    } finally {
      standin.searchLagMs = 0;
    }
  });

  it('gets a message as minimal, metadata or raw', async () => {
    const token = await tokenFor();
    const raw = mime(ALICE, 'get@corp.test');
    const { body } = await send(token, raw);
    const minimal = await api(`gmail/v1/users/me/messages/${body.id}?format=minimal`, token);
    expect(minimal.body).toMatchObject({ id: body.id, labelIds: ['SENT'], sizeEstimate: raw.length });
    expect(minimal.body.payload).toBeUndefined();
    const meta = await api(`gmail/v1/users/me/messages/${body.id}?format=metadata&metadataHeaders=Message-ID`, token);
    expect(meta.body.payload.headers).toEqual([{ name: 'Message-ID', value: '<get@corp.test>' }]);
    const full = await api(`gmail/v1/users/me/messages/${body.id}?format=raw`, token);
    expect(Buffer.from(full.body.raw, 'base64url').equals(raw)).toBe(true);
    expect((await api('gmail/v1/users/me/messages/ffffffffffffffff', token)).body.error).toMatchObject({ code: 404, status: 'NOT_FOUND' });
  });

  it('reports inbox arrivals through history, and 404s an expired startHistoryId', async () => {
    const user = 'inbox@corp.test';
    standin.addUser(user);
    const token = await tokenFor(user);
    const profile = await api('gmail/v1/users/me/profile', token);
    expect(profile.body).toMatchObject({ emailAddress: user, messagesTotal: 0 });
    const start = profile.body.historyId as string;
    const bounce = standin.deliverToInbox(user, 'From: mailer-daemon@googlemail.com\r\nTo: inbox@corp.test\r\nSubject: Delivery Status Notification (Failure)\r\n\r\nx\r\n');
    await send(token, mime(user, 'mine@corp.test'));
    const history = await api(`gmail/v1/users/me/history?startHistoryId=${start}&historyTypes=messageAdded&labelId=INBOX`, token);
    expect(history.body.history).toEqual([
      { id: String(bounce.historyId), messages: [{ id: bounce.id, threadId: bounce.threadId }], messagesAdded: [{ message: { id: bounce.id, threadId: bounce.threadId, labelIds: ['INBOX', 'UNREAD'] } }] },
    ]);
    expect(history.body.historyId).toBe(String(standin.historyId(user)));
    const all = await api(`gmail/v1/users/me/history?startHistoryId=${start}`, token);
    expect(all.body.history).toHaveLength(2);
    const latest = String(standin.historyId(user));
    expect((await api(`gmail/v1/users/me/history?startHistoryId=${latest}`, token)).body).toEqual({ historyId: latest });
    standin.expireHistory(user);
    expect((await api(`gmail/v1/users/me/history?startHistoryId=${start}`, token)).status).toBe(404);
    expect((await api(`gmail/v1/users/me/history?startHistoryId=${latest}`, token)).status).toBe(200);
  });
});

describe('reading the mailbox', () => {
  it('searches the INBOX by age (newer_than:, older_than:) and by label, newest first, in pages', async () => {
    const user = 'ages@corp.test';
    standin.addUser(user);
    const token = await tokenFor(user);
    clock -= 10 * 86_400_000;
    const old = standin.deliver(user, 'From: a@x.test\r\nSubject: old\r\n\r\nx\r\n');
    clock += 10 * 86_400_000;
    const recent = [1, 2, 3].map((n) => standin.deliver(user, `From: a@x.test\r\nSubject: new ${n}\r\n\r\nx\r\n`));
    await send(token, mime(user, 'age-sent@corp.test'));
    const q = (query: string, extra = '') => api(`gmail/v1/users/me/messages?q=${encodeURIComponent(query)}${extra}`, token);
    expect((await q('in:inbox newer_than:7d')).body.messages.map((m: { id: string }) => m.id)).toEqual(recent.map((m) => m.id).reverse());
    expect((await q('in:inbox older_than:7d')).body.messages).toEqual([{ id: old.id, threadId: old.threadId }]);
    const first = await q('in:inbox newer_than:7d', '&maxResults=2');
    expect(first.body.messages).toHaveLength(2);
    const second = await q('in:inbox newer_than:7d', `&maxResults=2&pageToken=${first.body.nextPageToken}`);
    expect(second.body.messages.map((m: { id: string }) => m.id)).toEqual([recent[0]!.id]);
    expect(second.body.nextPageToken).toBeUndefined();
    const byLabel = await api('gmail/v1/users/me/messages?labelIds=INBOX', token);
    expect(byLabel.body.messages).toHaveLength(4);
  });

  it('keeps only the history retention asked for: older start ids get 404', async () => {
    const short = await startGmailStandin({ users: ['kept@corp.test'], historyRetention: 2, now: () => clock });
    try {
      const k = await short.createServiceAccount();
      const { status, body } = await (async () => {
        const res = await fetch(short.tokenUri, { method: 'POST', body: new URLSearchParams({ grant_type: JWT_BEARER, assertion: assertion(k, { ...claims({ sub: 'kept@corp.test' }), iss: k.client_email }) }) });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      })();
      expect(status).toBe(200);
      const start = short.historyId('kept@corp.test');
      const get = (from: number) => fetch(new URL(`gmail/v1/users/me/history?startHistoryId=${from}`, short.rootUrl), { headers: { authorization: `Bearer ${body.access_token as string}` } });
      short.deliver('kept@corp.test', 'Subject: 1\r\n\r\nx\r\n');
      short.deliver('kept@corp.test', 'Subject: 2\r\n\r\nx\r\n');
      expect((await get(start)).status).toBe(200);
      short.deliver('kept@corp.test', 'Subject: 3\r\n\r\nx\r\n');
      expect((await get(start)).status).toBe(404);
      expect(((await (await get(start + 1)).json()) as { history: unknown[] }).history).toHaveLength(2);
    } finally {
      await short.close();
    }
  });

  it('needs gmail.readonly for a raw message; history and the profile take gmail.metadata too', async () => {
    const user = 'scopes@corp.test';
    standin.addUser(user);
    standin.setDelegatedScopes(key.client_email, [GMAIL_SEND_SCOPE, GMAIL_READONLY_SCOPE, 'https://www.googleapis.com/auth/gmail.metadata']);
    const m = standin.deliver(user, 'Subject: x\r\n\r\nx\r\n');
    const sendOnly = await tokenFor(user, GMAIL_SEND_SCOPE);
    expect((await api(`gmail/v1/users/me/messages/${m.id}?format=raw`, sendOnly)).status).toBe(403);
    expect((await api('gmail/v1/users/me/history?startHistoryId=1000', sendOnly)).status).toBe(403);
    const metadata = await tokenFor(user, 'https://www.googleapis.com/auth/gmail.metadata');
    expect((await api('gmail/v1/users/me/history?startHistoryId=1000', metadata)).status).toBe(200);
    expect((await api(`gmail/v1/users/me/messages/${m.id}?format=raw`, metadata)).status).toBe(403);
    const readonly = await tokenFor(user, GMAIL_READONLY_SCOPE);
    expect((await api(`gmail/v1/users/me/messages/${m.id}?format=raw`, readonly)).status).toBe(200);
  });

  it('counts reads against a per-user quota of units a second (a get is 5), with Retry-After', async () => {
    const user = 'reader@corp.test';
    standin.addUser({ email: user, readUnitsPerSecond: 12 });
    const token = await tokenFor(user);
    const m = standin.deliver(user, 'Subject: x\r\n\r\nx\r\n');
    const get = () => api(`gmail/v1/users/me/messages/${m.id}?format=raw`, token);
    expect((await get()).status).toBe(200);
    expect((await get()).status).toBe(200);
    const limited = await get();
    expect(limited.status).toBe(429);
    expect(limited.body.error.errors[0]).toMatchObject({ reason: 'rateLimitExceeded', domain: 'usageLimits' });
    expect(limited.headers.get('retry-after')).toBe('1');
    expect((await api('gmail/v1/users/me/history?startHistoryId=1000', token)).status).toBe(200); // 2 units still fit
    clock += 1000;
    expect((await get()).status).toBe(200);
    expect((await send(token, mime(user, 'quota-send@corp.test'))).status).toBe(200); // sends have their own quota
  });

  it('fails reads on demand as it fails sends', async () => {
    const user = 'flaky-reads@corp.test';
    standin.addUser(user);
    const token = await tokenFor(user);
    const m = standin.deliver(user, 'Subject: x\r\n\r\nx\r\n');
    standin.failNext(user, 'rate-limit-429', { call: 'history' });
    standin.failNext(user, 'auth-error-401', { call: 'get' });
    standin.failNext(user, 'drop-before-store', { call: 'profile' });
    expect((await api('gmail/v1/users/me/history?startHistoryId=1000', token)).status).toBe(429);
    expect((await api(`gmail/v1/users/me/messages/${m.id}?format=raw`, token)).status).toBe(401);
    await expect(api('gmail/v1/users/me/profile', token)).rejects.toThrow();
    expect((await api('gmail/v1/users/me/profile', token)).status).toBe(200);
  });
});

describe('failure injection', () => {
  it('fails the next call of the kind asked for, once, leaving the other calls alone', async () => {
    const user = 'flaky@corp.test';
    standin.addUser(user);
    const token = await tokenFor(user);
    standin.failNext(user, 'backend-error-500', { call: 'list' });
    standin.failNext(user, 'user-rate-limit-403', { times: 2 });
    expect((await api('gmail/v1/users/me/profile', token)).status).toBe(200);
    expect((await send(token, mime(user, 'f1@corp.test'))).body.error.errors[0].reason).toBe('userRateLimitExceeded');
    expect((await send(token, mime(user, 'f2@corp.test'))).status).toBe(403);
    expect((await send(token, mime(user, 'f3@corp.test'))).status).toBe(200);
    expect((await api('gmail/v1/users/me/messages?q=x', token)).status).toBe(500);
    expect(standin.requests.filter((r) => r.user === user).map((r) => `${r.call} ${r.status} ${r.injected ?? '-'}`)).toEqual([
      'token 200 -',
      'profile 200 -',
      'send 403 user-rate-limit-403',
      'send 403 user-rate-limit-403',
      'send 200 -',
      'list 500 backend-error-500',
    ]);
  });

  it('drops the connection after storing the message (the uncertain window)', async () => {
    const user = 'dropped@corp.test';
    standin.addUser(user);
    const token = await tokenFor(user);
    standin.failNext(user, 'drop-after-store');
    await expect(send(token, mime(user, 'd1@corp.test'))).rejects.toThrow();
    expect(standin.sent(user).map((m) => m.messageId)).toEqual(['<d1@corp.test>']);
    standin.failNext(user, 'drop-before-store');
    await expect(send(token, mime(user, 'd2@corp.test'))).rejects.toThrow();
    expect(standin.sent(user)).toHaveLength(1);
  });

  it('answers token failures at the token endpoint', async () => {
    standin.failNext(ALICE, 'unauthorized-client');
    expect((await exchange(assertion(key, claims()))).status).toBe(401);
    expect(() => standin.failNext(ALICE, 'invalid-grant', { call: 'send' })).toThrow();
  });
});
