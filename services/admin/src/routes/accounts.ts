import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { executeAccountCommand, publishEvent, type Bus } from '@postbus/bus';
import {
  AccountId,
  PostbusError,
  ValidationError,
  decideAccount,
  effectiveDailyLimit,
  evolveAccount,
  isPostbusError,
  newId,
  parseAddress,
  defaultDailyLimit,
  type AccountCommand,
  type AccountEvent,
  type AccountState,
  type SendingSettings,
  type Warmup,
} from '@postbus/contracts';
import { putSecret, withDatabase } from '@postbus/db';
import { dkimDnsRecordValue } from '@postbus/mail';
import { GmailConfigError, parseServiceAccountKey } from '@postbus/transports';
import { readAccount } from '../adapters/log.js';
import { LIMITS, type AdminDeps } from '../deps.js';
import { Problem } from '../http/problem.js';
import { AccountView, ChangeSettings, CreateAccount, DkimView, IdParam, LifecycleChange, SetDkim } from '../http/schemas.js';
import { decodeCursor, encodeCursor } from '../http/cursor.js';

export interface AccountRoutesOptions {
  readonly deps: AdminDeps;
  readonly clock: () => Date;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f\u0085\u2028\u2029]/;

/** Account texts end up in headers (From, the postal footer): one line each. */
function assertHeaderSafe(fields: Record<string, string | null | undefined>): void {
  for (const [field, value] of Object.entries(fields)) {
    if (typeof value === 'string' && CONTROL.test(value)) {
      throw new ValidationError('header_injection', `${field}: contains a line break or control character`);
    }
  }
}

const AccountPage = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: '1–500, default 100' })),
    after: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'The `next` of the previous page' })),
  },
  { additionalProperties: false },
);

const ACCOUNT_CURSOR = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z)\|(acc_[0-9A-Z]{26})$/;

function toView(state: AccountState, now: Date) {
  return {
    id: state.id,
    name: state.name,
    provider: state.provider,
    fromAddress: state.fromAddress,
    ...(state.provider === 'smtp'
      ? { smtp: { ...state.smtp } }
      : { gmail: { user: state.gmail.user, secretId: state.gmail.secretId, workspaceTrial: state.gmail.workspaceTrial ?? false } }),
    settings: { ...state.settings, verp: state.settings.verp ?? false, warmup: state.settings.warmup ?? null, dkim: state.settings.dkim ? { domain: state.settings.dkim.domain, selector: state.settings.dkim.selector } : null },
    effectiveDailyLimit: effectiveDailyLimit(state.settings, now),
    status: state.status,
    statusReason: state.statusReason,
    statusActor: state.statusActor,
    statusSince: state.statusSince,
    pausedUntil: state.pausedUntil,
    registeredAt: state.registeredAt,
    updatedAt: state.updatedAt,
  };
}

const notFound = () => new PostbusError('account_not_found', 'no such account', { status: 404 });
const errors = { 400: Problem, 401: Problem, 404: Problem, 409: Problem, 413: Problem, 415: Problem, 422: Problem, 503: Problem };

/** Sender accounts (SMTP or Gmail API): registered and changed by appending to their aggregate in ACCOUNTS. */
export const accountRoutes: FastifyPluginAsyncTypebox<AccountRoutesOptions> = async (app, { deps, clock }) => {
  const { bus, db, directory, cipher } = deps;

  app.post(
    '/',
    {
      bodyLimit: LIMITS.smallBodyBytes,
      schema: { tags: ['accounts'], summary: 'Register an SMTP or Gmail API account', body: CreateAccount, response: { 201: AccountView, ...errors } },
    },
    async (request, reply) => {
      const b = request.body;
      const provider = b.provider ?? 'smtp';
      type Given = { smtp: NonNullable<typeof b.smtp> } | { gmail: NonNullable<typeof b.gmail> };
      const credentials: Given | undefined = provider === 'smtp' ? (b.smtp && !b.gmail ? { smtp: b.smtp } : undefined) : b.gmail && !b.smtp ? { gmail: b.gmail } : undefined;
      if (!credentials) throw new PostbusError('invalid_request', `provider ${provider}: give \`${provider}\` settings, and only those`, { status: 400 });
      assertHeaderSafe({ name: b.name, fromName: b.fromName, postalAddress: b.postalAddress, 'smtp.user': b.smtp?.user });
      let fromAddress: string;
      try {
        fromAddress = parseAddress(b.fromAddress).address;
      } catch (err) {
        throw new ValidationError('invalid_address', `fromAddress: ${(err as Error).message}`);
      }
      // Checked before anything is stored: a key that cannot work is a 400 now, not a failure at every send.
      const gmailKey = 'gmail' in credentials ? serviceAccountKeyOf(credentials.gmail.serviceAccountKey, deps.gmailTrustedTokenUris ?? []) : undefined;
      const accountId = newId('acc');
      const secretId = newId('sec');
      // The secret is stored (encrypted) before the event that names its id exists.
      if ('smtp' in credentials) await withDatabase(() => putSecret(db, cipher, secretId, 'smtp_password', credentials.smtp.password));
      else await withDatabase(() => putSecret(db, cipher, secretId, 'gmail_service_account_key', gmailKey!));
      const workspaceTrial = 'gmail' in credentials && credentials.gmail.workspaceTrial === true;
      const settings: SendingSettings = {
        dailyLimit: b.dailyLimit ?? defaultDailyLimit(provider, { workspaceTrial }),
        batchSize: b.batchSize ?? 50,
        sendDelayMs: b.sendDelayMs ?? 0,
        postalAddress: b.postalAddress?.trim() || null,
        fromName: b.fromName ?? null,
        ...(b.warmup ? { warmup: warmupOf(b.warmup, clock()) } : {}),
        ...(b.verp ? { verp: true } : {}),
      };
      const now = clock().toISOString();
      const common = { type: 'RegisterAccount' as const, accountId, name: b.name, fromAddress, settings, actor: request.principal };
      const command: AccountCommand =
        'smtp' in credentials
          ? { ...common, smtp: { host: credentials.smtp.host, port: credentials.smtp.port, tls: credentials.smtp.tls, user: credentials.smtp.user, secretId } }
          : { ...common, gmail: { user: fromAddress, secretId, ...(workspaceTrial ? { workspaceTrial } : {}) } };
      const events = decideAccount(command, null, { eventId: newId('evt'), now });
      await appendAll(bus, accountId, events, 0);
      request.log.info({ accountId, provider }, 'account registered');
      return reply.code(201).send(toView(fold(null, events)!, clock()));
    },
  );

  app.get(
    '/',
    {
      schema: {
        tags: ['accounts'],
        summary: 'List accounts, oldest first, a page at a time',
        querystring: AccountPage,
        response: { 200: Type.Object({ accounts: Type.Array(AccountView), next: Type.Union([Type.String(), Type.Null()]) }), ...errors },
      },
    },
    async (request) => {
      const limit = Math.min(LIMITS.maxAccountPage, Number(request.query.limit ?? 100));
      const after = request.query.after === undefined ? undefined : decodeCursor(request.query.after, ACCOUNT_CURSOR);
      await directory.sync();
      // The directory holds every account in memory: the page is cut from it, by (registeredAt, id).
      const accounts = directory
        .all()
        .filter((a) => after === undefined || a.registeredAt > after.at || (a.registeredAt === after.at && a.id > after.id))
        .sort((a, b) => a.registeredAt.localeCompare(b.registeredAt) || a.id.localeCompare(b.id));
      const page = accounts.slice(0, limit);
      const now = clock();
      const last = page[page.length - 1];
      return { accounts: page.map((a) => toView(a, now)), next: accounts.length > limit && last ? encodeCursor(last.registeredAt, last.id) : null };
    },
  );

  app.get(
    '/:id',
    { schema: { tags: ['accounts'], summary: 'One account', params: IdParam(AccountId), response: { 200: AccountView, ...errors } } },
    async (request) => {
      await directory.sync();
      const state = directory.get(request.params.id);
      if (!state) throw notFound();
      return toView(state, clock());
    },
  );

  app.patch(
    '/:id',
    {
      bodyLimit: LIMITS.smallBodyBytes,
      schema: {
        tags: ['accounts'],
        summary: 'Change sending settings',
        params: IdParam(AccountId),
        body: ChangeSettings,
        response: { 200: AccountView, ...errors },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { warmup, ...rest } = request.body;
      const changes: Partial<SendingSettings> = { ...rest, ...(warmup !== undefined ? { warmup: warmup ? warmupOf(warmup, clock()) : null } : {}) };
      assertHeaderSafe({ postalAddress: changes.postalAddress, fromName: changes.fromName });
      if (typeof changes.postalAddress === 'string') changes.postalAddress = changes.postalAddress.trim() || null;
      const { state, lastSeq } = await readAccount(bus, id);
      if (!state) throw notFound();
      const events = decideAccount({ type: 'ChangeAccountSettings', accountId: id, changes, actor: request.principal }, state, {
        eventId: newId('evt'),
        now: clock().toISOString(),
      });
      await appendAll(bus, id, events, lastSeq);
      return toView(fold(state, events)!, clock());
    },
  );

  /** Sets the account's DKIM key (stored encrypted; only its id is in the event) and answers the DNS record to publish. */
  app.put(
    '/:id/dkim',
    {
      bodyLimit: LIMITS.smallBodyBytes,
      schema: { tags: ['accounts'], summary: 'Set the DKIM signing key', params: IdParam(AccountId), body: SetDkim, response: { 200: DkimView, ...errors } },
    },
    async (request) => {
      const { id } = request.params;
      const { state, lastSeq } = await readAccount(bus, id);
      if (!state) throw notFound();
      const selector = request.body.selector.toLowerCase();
      const domain = request.body.domain.toLowerCase();
      if (!/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/.test(selector)) throw new ValidationError('dkim_selector_invalid', 'selector: letters, digits, dots, _ and -');
      const dnsValue = dkimRecordOf(request.body, state.fromAddress);
      const secretId = newId('sec');
      await withDatabase(() => putSecret(db, cipher, secretId, 'dkim_private_key', request.body.privateKey));
      // The state just read decides and fences the append (as PATCH does): one read, not two.
      const events = decideAccount({ type: 'ChangeAccountSettings', accountId: id, changes: { dkim: { domain, selector, secretId } }, actor: request.principal }, state, {
        eventId: newId('evt'),
        now: clock().toISOString(),
      });
      await appendAll(bus, id, events, lastSeq);
      request.log.info({ accountId: id, domain, selector }, 'DKIM key set');
      return { accountId: id, domain, selector, dnsRecord: { name: `${selector}._domainkey.${domain}`, type: 'TXT' as const, value: dnsValue } };
    },
  );

  app.delete(
    '/:id/dkim',
    { schema: { tags: ['accounts'], summary: 'Stop signing with DKIM', params: IdParam(AccountId), response: { 200: AccountView, ...errors } } },
    async (request) => {
      const { state } = await executeAccountCommand(bus, { type: 'ChangeAccountSettings', accountId: request.params.id, changes: { dkim: null }, actor: request.principal }, clock());
      if (!state) throw notFound();
      return toView(state, clock());
    },
  );

  /** A person's pause: the worker stops at once (its message in hand finishes); only a person resumes. */
  app.post(
    '/:id/pause',
    {
      bodyLimit: LIMITS.smallBodyBytes,
      schema: { tags: ['accounts'], summary: 'Pause an account', params: IdParam(AccountId), body: LifecycleChange, response: { 200: AccountView, ...errors } },
    },
    async (request) => {
      const { state } = await executeAccountCommand(
        bus,
        { type: 'PauseAccount', accountId: request.params.id, status: 'paused', reason: request.body.reason, actor: request.principal },
        clock(),
      );
      request.log.info({ accountId: request.params.id }, 'account paused by a person');
      return toView(state!, clock());
    },
  );

  /** Ends any pause or suspension: the leader places the account on a node again. */
  app.post(
    '/:id/resume',
    {
      bodyLimit: LIMITS.smallBodyBytes,
      schema: { tags: ['accounts'], summary: 'Resume a paused or suspended account', params: IdParam(AccountId), body: LifecycleChange, response: { 200: AccountView, ...errors } },
    },
    async (request) => {
      const { state } = await executeAccountCommand(
        bus,
        { type: 'ResumeAccount', accountId: request.params.id, reason: request.body.reason, actor: request.principal },
        clock(),
      );
      request.log.info({ accountId: request.params.id }, 'account resumed by a person');
      return toView(state!, clock());
    },
  );
};

/**
 * The DKIM key is checked now (a bad key is a 400 here, not a failure at every send), as
 * signing checks it; the signing domain must be the From address's domain or a parent of it
 * (DMARC alignment). Answers the TXT record value to publish.
 */
function dkimRecordOf(body: { domain: string; privateKey: string }, fromAddress: string): string {
  let value: string;
  try {
    value = dkimDnsRecordValue(body.privateKey);
  } catch (err) {
    if (isPostbusError(err) && err.code === 'dkim_key_invalid') throw new ValidationError('dkim_key_invalid', err.message);
    throw err;
  }
  const fromDomain = (fromAddress.split('@')[1] ?? '').toLowerCase();
  const domain = body.domain.toLowerCase();
  if (fromDomain !== domain && !fromDomain.endsWith(`.${domain}`)) {
    throw new ValidationError('dkim_domain_not_aligned', `domain: must be ${fromDomain} or a parent of it, so that DMARC aligns with the From address`);
  }
  return value;
}

/**
 * The service-account key as the JSON text to store, once parseServiceAccountKey accepts it
 * (an RSA key, a client email, a token_uri of Google's or a trusted one). The error names the
 * field at fault, never a value from the key.
 */
function serviceAccountKeyOf(key: string | Record<string, unknown>, trustedTokenUris: readonly string[]): string {
  try {
    parseServiceAccountKey(key, trustedTokenUris);
  } catch (err) {
    if (err instanceof GmailConfigError) throw new PostbusError('gmail_key_invalid', err.message, { status: 400 });
    throw new PostbusError('gmail_key_invalid', 'service-account key could not be read', { status: 400 });
  }
  return typeof key === 'string' ? key : JSON.stringify(key);
}

function warmupOf(w: { days: number; startLimit: number; startedAt?: string | undefined }, now: Date): Warmup {
  return { days: w.days, startLimit: w.startLimit, startedAt: w.startedAt ? new Date(w.startedAt).toISOString() : now.toISOString() };
}

function fold(state: AccountState | null, events: readonly AccountEvent[]): AccountState | null {
  return events.reduce<AccountState | null>(evolveAccount, state);
}

/**
 * Appends to the aggregate's one subject with optimistic concurrency: a change appended
 * since the read makes the server refuse (409 `concurrent_change`); 0 means "must be new".
 */
async function appendAll(bus: Bus, accountId: string, events: readonly AccountEvent[], lastSeq: number): Promise<void> {
  let expected = lastSeq;
  for (const event of events) {
    const ack = await publishEvent(bus, bus.subjects.account(accountId), event, { expectLastSubjectSeq: expected });
    expected = ack.seq;
  }
}
