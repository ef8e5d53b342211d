import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { FINAL_STATES, type DeliveryState } from '@postbus/db';
import type { Catcher } from './catcher.js';

/** What the demo does through the admin API, as a user would: log in, an account, five messages. */

export const DEMO_FROM = 'demo@postbus.test';
const ACCOUNT_NAME = 'Postbus demo (SMTP catcher)';
const RECIPIENTS = [
  ['Ada', 'ada@example.test'],
  ['Grace', 'grace@example.test'],
  ['Edsger', 'edsger@example.test'],
  ['Barbara', 'barbara@example.test'],
  ['Alan', 'alan@example.test'],
] as const;

export interface MessageStatus {
  readonly state: string;
  readonly to: string;
  readonly subject: string;
  readonly reason: string | null;
}

/** An error that ends a poll at once instead of being retried. */
class Fatal extends Error {}

/** The admin API over HTTP; every request is cancelled when the demo stops. */
export class Admin {
  token = '';
  constructor(
    readonly baseUrl: string,
    private readonly signal: AbortSignal,
  ) {}

  async request(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      signal: this.signal,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed };
  }

  async expect(status: number, method: string, path: string, body?: unknown): Promise<any> {
    const res = await this.request(method, path, body);
    if (res.status !== status) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body;
  }
}

/** fn until it returns a value; its errors count as "not yet" (the services are still starting) unless Fatal. */
export async function poll<T>(signal: AbortSignal, what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal.throwIfAborted();
    const value = await fn().catch((e: unknown) => {
      signal.throwIfAborted();
      if (e instanceof Fatal) throw e;
      return undefined;
    });
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(250, undefined, { signal }).catch(() => signal.throwIfAborted());
  }
}

export async function logIn(admin: Admin, username: string, password: string): Promise<void> {
  const login = await admin.expect(200, 'POST', '/v1/auth/login', { username, password });
  admin.token = login.accessToken as string;
}

/** This catcher's account from an earlier run, so that reruns do not pile up accounts. */
export async function findEarlierAccount(admin: Admin, catcher: Catcher): Promise<string | undefined> {
  type Page = { accounts: Array<{ id: string; name: string; fromAddress: string; smtp?: { host: string; port: number } }>; next?: string | null };
  // Every page: the list is paged (100 a page by default).
  for (let after: string | null | undefined = undefined; ; ) {
    const page = (await admin.expect(200, 'GET', `/v1/accounts${after ? `?after=${encodeURIComponent(after)}` : ''}`)) as Page;
    const found = page.accounts.find((a) => a.name === ACCOUNT_NAME && a.fromAddress === DEMO_FROM && a.smtp?.host === catcher.host && a.smtp?.port === catcher.port);
    if (found) return found.id;
    after = page.next;
    if (!after) return undefined;
  }
}

export async function registerAccount(admin: Admin, catcher: Catcher): Promise<string> {
  const account = await admin.expect(201, 'POST', '/v1/accounts', {
    name: ACCOUNT_NAME,
    fromAddress: DEMO_FROM,
    fromName: 'Postbus Demo',
    smtp: { host: catcher.host, port: catcher.port, tls: 'none', user: DEMO_FROM, password: randomBytes(9).toString('base64url') },
    dailyLimit: 100,
    batchSize: 10,
    sendDelayMs: 0,
    postalAddress: 'Postbus Demo, 1 Example Street, 12345 Example City',
  });
  return account.id as string;
}

/** Requests one message to each recipient; returns their ids. */
export async function sendMessages(admin: Admin, accountId: string): Promise<string[]> {
  const accepted = await admin.expect(202, 'POST', '/v1/messages', {
    messages: RECIPIENTS.map(([name, to]) => ({
      to,
      toName: name,
      kind: 'bulk',
      accountId,
      subject: 'Hello {{name}}, this is Postbus',
      text: 'Hi {{name}},\n\nthis message went through the admin API, NATS JetStream, the orchestrator and a sender worker to a local SMTP catcher.\n\n-- Postbus demo',
      html: '<p>Hi <b>{{name}}</b>,</p><p>this message went through the admin API, NATS JetStream, the orchestrator and a sender worker to a local SMTP catcher.</p><p>-- Postbus demo</p>',
      variables: { name },
    })),
  });
  return (accepted.messages as Array<{ id: string }>).map((m) => m.id);
}

/** Polls each message until all are sent; fails at once when one ends in another final state. */
export async function waitUntilSent(admin: Admin, ids: readonly string[], timeoutMs: number, signal: AbortSignal): Promise<Map<string, MessageStatus>> {
  const states = new Map<string, MessageStatus>();
  await poll(signal, `${ids.length} messages to be sent`, timeoutMs, async () => {
    for (const id of ids) {
      if (states.get(id)?.state === 'sent') continue;
      const res = await admin.request('GET', `/v1/messages/${id}`);
      if (res.status === 404) continue; // not in the ledger yet
      if (res.status !== 200) throw new Error(`GET /v1/messages/${id} answered ${res.status}`);
      const m = res.body as MessageStatus;
      states.set(id, m);
      if (m.state !== 'sent' && FINAL_STATES.has(m.state as DeliveryState)) {
        throw new Fatal(`message ${id} ended ${m.state}${m.reason ? ` (${m.reason})` : ''}, not sent`);
      }
    }
    return ids.every((id) => states.get(id)?.state === 'sent') ? true : undefined;
  }).catch((e: unknown) => {
    // Which messages got how far says more than the bare timeout.
    if (e instanceof Error && /^timed out/.test(e.message)) {
      const now = ids.map((id) => `${id} ${states.get(id)?.state ?? 'requested'}`).join(', ');
      throw new Error(`${e.message}: ${now}`);
    }
    throw e;
  });
  return states;
}
