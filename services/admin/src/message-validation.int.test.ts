import { newId } from '@postbus/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, validAccount, validMessage, type Harness } from '../test/harness.js';

/** Every refusal of POST /v1/messages: its status, its stable code, and nothing published. */
let h: Harness;
let auth: { authorization: string };
let withoutPostal: string;
beforeAll(async () => {
  h = await startHarness();
  auth = await h.authHeader();
});
afterAll(async () => {
  await h?.close();
});

const post = (payload: unknown, headers: Record<string, string> = {}) =>
  h.app.inject({
    method: 'POST',
    url: '/v1/messages',
    headers: { ...auth, ...headers },
    ...(typeof payload === 'string' || Buffer.isBuffer(payload) ? { body: payload } : { payload: payload as object }),
  });

async function expectRefused(payload: unknown, status: number, code: string, headers: Record<string, string> = {}) {
  const before = await h.count('REQUESTS');
  const res = await post(payload, headers);
  expect(res.statusCode, res.body.slice(0, 500)).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json<{ code: string; status: number; detail: string; errors?: Array<Record<string, unknown>> }>();
  expect(body).toMatchObject({ status, code, type: `urn:postbus:problem:${code}` });
  expect(await h.count('REQUESTS')).toBe(before);
  return body;
}

describe('before any account has a postal address', () => {
  it('bulk mail is refused with postal_address_required; transactional mail is accepted', async () => {
    await expectRefused(validMessage(), 422, 'postal_address_required');
    withoutPostal = (await h.app.inject({ method: 'POST', url: '/v1/accounts', headers: auth, payload: validAccount({ postalAddress: undefined }) })).json<{ id: string }>().id;
    await expectRefused(validMessage(), 422, 'postal_address_required');
    expect((await post(validMessage({ kind: 'transactional' }))).statusCode).toBe(202);
  });
});

describe('refusals', () => {
  beforeAll(async () => {
    const res = await h.app.inject({ method: 'POST', url: '/v1/accounts', headers: auth, payload: validAccount() });
    expect(res.statusCode).toBe(201);
  });

  it.each([
    ['a missing subject', { to: 'a@example.org', text: 'x' }],
    ['an unknown field', validMessage({ bcc: 'x@example.org' })],
    ['an unknown kind', validMessage({ kind: 'spam' })],
    ['a bad campaign tag', validMessage({ campaignId: 'not a tag!' })],
    ['expiry of 0 hours', validMessage({ expiresInHours: 0 })],
    ['expiry over 720 hours', validMessage({ expiresInHours: 721 })],
    ['a number where text belongs', validMessage({ subject: 42 })],
    ['an empty batch', { messages: [] }],
    ['a batch over 1000', { messages: Array.from({ length: 1001 }, () => validMessage()) }],
    ['a batch with extra fields', { messages: [validMessage()], dryRun: true }],
    ['a JSON array', [validMessage()]],
  ])('schema: %s → 400 invalid_request', async (_name, payload) => {
    const body = await expectRefused(payload, 400, 'invalid_request');
    expect(body.errors?.length).toBeGreaterThan(0);
  });

  it('schema errors name the offending field of the shape that was meant', async () => {
    const batch = await expectRefused({ messages: [validMessage(), validMessage({ kind: 'spam' })] }, 400, 'invalid_request');
    expect(batch.errors).toEqual([{ path: 'body/messages/1/kind', message: 'must be equal to one of the allowed values' }]);
    const single = await expectRefused(validMessage({ bcc: 'x@example.org' }), 400, 'invalid_request');
    expect(single.detail).toBe('body must NOT have additional properties: "bcc"');
  });

  it('malformed JSON → 400 malformed_json', async () => {
    await expectRefused('{"to": "a@example.org", ', 400, 'malformed_json', { 'content-type': 'application/json' });
    await expectRefused('', 400, 'malformed_json', { 'content-type': 'application/json' });
    await expectRefused('{"__proto__": {"x": 1}, "to": "a@example.org"}', 400, 'malformed_json', { 'content-type': 'application/json' });
  });

  it('another media type → 415 unsupported_media_type', async () => {
    await expectRefused(JSON.stringify(validMessage()), 415, 'unsupported_media_type', { 'content-type': 'text/plain' });
    await expectRefused('to=a%40example.org', 415, 'unsupported_media_type', { 'content-type': 'application/x-www-form-urlencoded' });
  });

  it('a body over 10 MiB or one message over 512 KiB → 413 payload_too_large', async () => {
    const huge = JSON.stringify(validMessage({ text: 'x'.repeat(10 * 1024 * 1024 + 1) }));
    await expectRefused(huge, 413, 'payload_too_large', { 'content-type': 'application/json' });
    const big = await expectRefused({ messages: [validMessage(), validMessage({ html: 'y'.repeat(513 * 1024) })] }, 413, 'payload_too_large');
    expect(big.errors).toEqual([expect.objectContaining({ index: 1, code: 'payload_too_large' })]);
  });

  it.each([
    ['CRLF in the subject', { subject: 'Hi\r\nBcc: victim@example.org' }],
    ['LF in the subject', { subject: 'Hi\nthere' }],
    ['a NUL in the subject', { subject: 'Hi\u0000' }],
    ['CR in the recipient name', { toName: 'Reader\rBcc: x@example.org' }],
    ['LF in a header value', { headers: { 'X-Campaign': 'a\nBcc: x@example.org' } }],
    ['CRLF in a header name', { headers: { 'X-A\r\nBcc': 'x' } }],
    ['LF in a variable', { variables: { name: 'a\nb' } }],
    ['a Unicode line separator', { subject: 'a\u2028b' }],
  ])('%s → 422 header_injection', async (_name, over) => {
    await expectRefused(validMessage(over), 422, 'header_injection');
  });

  it('a header that is not an X- header → 422 header_not_allowed', async () => {
    await expectRefused(validMessage({ headers: { Bcc: 'x@example.org' } }), 422, 'header_not_allowed');
    await expectRefused(validMessage({ headers: { 'List-Unsubscribe': '<https://x>' } }), 422, 'header_not_allowed');
  });

  it.each([
    ['to', { to: 'not-an-address' }],
    ['to with two @', { to: 'a@b@example.org' }],
    ['to with a display name', { to: 'Reader <reader@example.org>' }],
    ['to on a numeric TLD', { to: 'a@example.123' }],
    ['replyTo', { replyTo: 'nobody@' }],
  ])('a bad %s → 422 invalid_address', async (_name, over) => {
    await expectRefused(validMessage(over), 422, 'invalid_address');
  });

  it('neither text nor html → 422 empty_body', async () => {
    await expectRefused({ to: 'a@example.org', subject: 'Hi' }, 422, 'empty_body');
    await expectRefused({ to: 'a@example.org', subject: 'Hi', text: '' }, 422, 'empty_body');
  });

  it('an unknown or malformed account → 422 unknown_account', async () => {
    await expectRefused(validMessage({ accountId: newId('acc') }), 422, 'unknown_account');
    await expectRefused(validMessage({ accountId: 'acc_nope', kind: 'transactional' }), 422, 'unknown_account');
  });

  it('bulk mail pinned to an account without a postal address → 422 postal_address_required', async () => {
    await expectRefused(validMessage({ accountId: withoutPostal }), 422, 'postal_address_required');
    expect((await post(validMessage({ accountId: withoutPostal, kind: 'transactional' }))).statusCode).toBe(202);
  });

  it('one bad message refuses the whole batch, naming each offender by index', async () => {
    const messages = [validMessage(), validMessage(), validMessage({ to: 'broken' }), validMessage({ subject: 'a\r\nb' })];
    const body = await expectRefused({ messages }, 422, 'invalid_address');
    expect(body.detail).toContain('messages[2].to');
    expect(body.errors).toEqual([
      expect.objectContaining({ index: 2, code: 'invalid_address', field: 'to' }),
      expect.objectContaining({ index: 3, code: 'header_injection', field: 'subject' }),
    ]);
  });

  it('a malformed Idempotency-Key → 400 invalid_request', async () => {
    await expectRefused(validMessage(), 400, 'invalid_request', { 'idempotency-key': 'k'.repeat(201) });
    await expectRefused(validMessage(), 400, 'invalid_request', { 'idempotency-key': 'caf\u00e9' });
  });
});
