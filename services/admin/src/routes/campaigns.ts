import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { executeCampaignCommand, readCampaign } from '@postbus/bus';
import { PostbusError, derivedId, newId, normaliseAddress, parseAddress, type CampaignCommand, type CampaignState, type CampaignTemplate } from '@postbus/contracts';
import { addRecipientChunk, cancelCampaignDeliveries, insertCampaign, listCampaignIds, setCampaignActive, withDatabase, type CampaignRecipientInput } from '@postbus/db';
import { readCampaignProgress } from '../adapters/campaign-progress.js';
import { requestHash } from '../domain/canonical.js';
import { needsAccounts, prepareMessages, type MessageRequest } from '../domain/message-request.js';
import { LIMITS, type AdminDeps } from '../deps.js';
import {
  CampaignId,
  CampaignView,
  ChunkResultView,
  CreateCampaign,
  ReasonBody,
  RecipientChunk,
  SendCampaign,
  type RecipientInput,
} from '../http/campaign-schemas.js';
import { Problem } from '../http/problem.js';
import { publishCancelled } from './message-search.js';

export interface CampaignRoutesOptions {
  readonly deps: AdminDeps;
  readonly clock: () => Date;
}

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 413: Problem, 422: Problem, 503: Problem };
const Params = Type.Object({ id: CampaignId });
const DEFAULT_EXPIRY_HOURS = 72;

function replyAddress(input: string): string {
  try {
    return parseAddress(input).address;
  } catch (err) {
    throw new PostbusError('invalid_address', `replyTo: ${(err as Error).message}`, { status: 422 });
  }
}

function view(s: CampaignState): CampaignView {
  return {
    id: s.id,
    name: s.name,
    kind: s.kind,
    accountId: s.accountId,
    status: s.status,
    statusReason: s.statusReason,
    statusActor: s.statusActor,
    statusSince: s.statusSince,
    sendAt: s.sendAt,
    scheduledAt: s.scheduledAt,
    subject: s.template.subject,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

/**
 * Campaigns: the state is the aggregate on `camp.<id>` (every change an event, decided
 * purely); recipients live in Postgres (`campaign_recipients`), imported in idempotent
 * chunks. Sending marks the campaign for the orchestrator's expansion, which turns its
 * recipients into `EmailRequested` messages a window at a time while the campaign runs.
 */
export const campaignRoutes: FastifyPluginAsyncTypebox<CampaignRoutesOptions> = async (app, { deps, clock }) => {
  const { bus, db, directory } = deps;

  async function load(id: string): Promise<CampaignState> {
    const state = await readCampaign(bus, id);
    if (!state) throw new PostbusError('campaign_not_found', 'no such campaign', { status: 404 });
    return state;
  }

  /** Checks every recipient as a message of this campaign would be checked (same codes); all or none. */
  async function checkRecipients(campaignId: string, c: Pick<CampaignState, 'kind' | 'accountId' | 'template' | 'expiresInHours'>, recipients: readonly RecipientInput[], principal: string): Promise<CampaignRecipientInput[]> {
    const t = c.template;
    const messages: MessageRequest[] = recipients.map((r) => ({
      to: r.to,
      ...(r.toName !== undefined ? { toName: r.toName } : {}),
      ...(r.variables !== undefined ? { variables: r.variables } : {}),
      subject: t.subject,
      ...(t.text !== undefined ? { text: t.text } : {}),
      ...(t.html !== undefined ? { html: t.html } : {}),
      ...(t.replyTo !== undefined ? { replyTo: t.replyTo } : {}),
      ...(t.headers !== undefined ? { headers: t.headers } : {}),
      ...(t.tracking !== undefined ? { tracking: t.tracking } : {}),
      kind: c.kind,
      ...(c.accountId !== null ? { accountId: c.accountId } : {}),
      campaignId,
      expiresInHours: c.expiresInHours,
    }));
    if (needsAccounts(messages)) await directory.sync();
    const prepared = prepareMessages(messages, directory, { principal, now: clock(), maxContentBytes: LIMITS.messageContentBytes, messageId: (i) => derivedId('msg', campaignId, 'check', i) });
    if (!prepared.ok) {
      const first = prepared.problems[0]!;
      const list = prepared.problems.slice(0, 100).map(({ index, code, field, detail }) => ({ index, code, field, detail: detail.replace(/^messages/, 'recipients') }));
      throw new PostbusError(first.code, first.detail.replace(/^messages/, 'recipients'), { status: first.status, detail: { errors: list } });
    }
    return prepared.requests.map(({ event }, i) => ({
      address: event.data.content.to,
      addressKey: normaliseAddress(event.data.content.to),
      ...(recipients[i]!.toName !== undefined ? { toName: recipients[i]!.toName } : {}),
      ...(recipients[i]!.variables !== undefined ? { variables: recipients[i]!.variables } : {}),
    }));
  }

  async function addChunk(state: CampaignState, chunkKey: string, recipients: readonly RecipientInput[], principal: string) {
    const rows = await checkRecipients(state.id, state, recipients, principal);
    const result = await withDatabase(() => addRecipientChunk(db, state.id, chunkKey, requestHash(recipients), rows, (seq) => derivedId('msg', state.id, seq)));
    if (result.kind === 'not_found') throw new PostbusError('campaign_not_found', 'no such campaign', { status: 404 });
    if (result.kind === 'conflict') throw new PostbusError('chunk_key_reused', 'this chunkKey was used with other recipients', { status: 409 });
    if (result.kind === 'not_editable') throw new PostbusError('campaign_not_editable', 'the campaign was sent: recipients can no longer be added', { status: 409 });
    await executeCampaignCommand(bus, { type: 'AddRecipients', campaignId: state.id, chunkKey, count: result.added, actor: principal }, clock());
    return { campaignId: state.id, chunkKey, added: result.added, duplicates: result.duplicates, replayed: result.kind === 'replay' };
  }

  const command = async (c: CampaignCommand) => {
    const { state } = await executeCampaignCommand(bus, c, clock());
    return state!;
  };

  app.post('/', { schema: { tags: ['campaigns'], summary: 'Create a campaign (template, recipients inline or imported later, optional sendAt)', body: CreateCampaign, response: { 201: CampaignView, ...errors } } }, async (request, reply) => {
    const b = request.body;
    const id = newId('cmp');
    const template: CampaignTemplate = {
      subject: b.subject,
      ...(b.text !== undefined ? { text: b.text } : {}),
      ...(b.html !== undefined ? { html: b.html } : {}),
      ...(b.replyTo !== undefined ? { replyTo: replyAddress(b.replyTo) } : {}),
      ...(b.headers !== undefined ? { headers: b.headers } : {}),
      ...(b.tracking !== undefined ? { tracking: b.tracking } : {}),
    };
    const base = { kind: b.kind ?? 'bulk', accountId: b.accountId ?? null, template, expiresInHours: b.expiresInHours ?? DEFAULT_EXPIRY_HOURS } as const;
    // The template is checked as one message would be (address, headers, postal address), with a stand-in recipient.
    await checkRecipients(id, base, b.recipients?.length ? b.recipients : [{ to: 'check@example.com' }], request.principal);
    await withDatabase(() => insertCampaign(db, id));
    let state = await command({
      type: 'CreateCampaign',
      campaignId: id,
      name: b.name,
      kind: base.kind,
      ...(b.accountId !== undefined ? { accountId: b.accountId } : {}),
      template,
      expiresInHours: base.expiresInHours,
      ...(b.sendAt !== undefined ? { sendAt: new Date(b.sendAt).toISOString() } : {}),
      actor: request.principal,
    });
    if (b.recipients?.length) {
      await addChunk(state, 'inline', b.recipients, request.principal);
      state = await load(id);
    }
    request.log.info({ campaignId: id, actor: request.principal }, 'campaign created');
    return reply.code(201).send({ ...view(state), progress: await readCampaignProgress(db, id) });
  });

  app.post('/:id/recipients', { schema: { tags: ['campaigns'], summary: 'Import a chunk of recipients (idempotent per chunkKey)', params: Params, body: RecipientChunk, response: { 200: ChunkResultView, ...errors } } }, async (request) =>
    addChunk(await load(request.params.id), request.body.chunkKey, request.body.recipients, request.principal),
  );

  app.post('/:id/send', { schema: { tags: ['campaigns'], summary: 'Send now, or schedule (at, else the campaign’s sendAt)', params: Params, body: SendCampaign, response: { 200: CampaignView, ...errors } } }, async (request) => {
    const id = request.params.id;
    await load(id);
    // Marked before the event: the expansion looks at marked campaigns and decides by the aggregate.
    await withDatabase(() => setCampaignActive(db, id, true));
    const at = request.body.at;
    return view(await command({ type: 'SendCampaign', campaignId: id, ...(at !== undefined ? { at: new Date(at).toISOString() } : {}), actor: request.principal }));
  });

  app.post('/:id/pause', { schema: { tags: ['campaigns'], summary: 'Pause: no more of its recipients are requested (messages already requested go out)', params: Params, body: ReasonBody, response: { 200: CampaignView, ...errors } } }, async (request) =>
    view(await command({ type: 'PauseCampaign', campaignId: request.params.id, reason: request.body.reason ?? 'paused by a person', actor: request.principal })),
  );

  app.post('/:id/resume', { schema: { tags: ['campaigns'], summary: 'Resume a paused campaign', params: Params, body: ReasonBody, response: { 200: CampaignView, ...errors } } }, async (request) => {
    await withDatabase(() => setCampaignActive(db, request.params.id, true));
    return view(await command({ type: 'ResumeCampaign', campaignId: request.params.id, reason: request.body.reason ?? 'resumed by a person', actor: request.principal }));
  });

  app.post(
    '/:id/cancel',
    { schema: { tags: ['campaigns'], summary: 'Cancel: nothing more is requested, and its messages not yet claimed are cancelled', params: Params, body: ReasonBody, response: { 200: Type.Intersect([CampaignView, Type.Object({ cancelledMessages: Type.Integer() })]), ...errors } } },
    async (request) => {
      const reason = request.body.reason ?? 'cancelled by a person';
      const state = await command({ type: 'CancelCampaign', campaignId: request.params.id, reason, actor: request.principal });
      const now = clock();
      // After the event: the expansion, which checks the aggregate before each window, requests nothing more.
      const rows = await withDatabase(() => cancelCampaignDeliveries(db, { id: state.id, kind: state.kind, subject: state.template.subject }, request.principal, now));
      await Promise.all(rows.map((r) => publishCancelled(bus, r, reason, request.principal, now)));
      await withDatabase(() => setCampaignActive(db, state.id, false));
      request.log.info({ campaignId: state.id, cancelled: rows.length, actor: request.principal }, 'campaign cancelled');
      return { ...view(state), cancelledMessages: rows.length };
    },
  );

  app.get('/:id', { schema: { tags: ['campaigns'], summary: 'One campaign with its progress', params: Params, response: { 200: CampaignView, ...errors } } }, async (request) => {
    const state = await load(request.params.id);
    return { ...view(state), progress: await readCampaignProgress(db, state.id) };
  });

  app.get(
    '/',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'Campaigns, newest first',
        querystring: Type.Object({ limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]?$|^100$', description: '1–100, default 20' })), after: Type.Optional(CampaignId) }, { additionalProperties: false }),
        response: { 200: Type.Object({ campaigns: Type.Array(CampaignView), next: Type.Union([CampaignId, Type.Null()]) }), ...errors },
      },
    },
    async (request) => {
      const limit = Number(request.query.limit ?? 20);
      const ids = await withDatabase(() => listCampaignIds(db, request.query.after ?? null, limit + 1));
      const page = ids.slice(0, limit);
      const states = await Promise.all(page.map((id) => readCampaign(bus, id)));
      return { campaigns: states.filter((s): s is CampaignState => s !== null).map(view), next: ids.length > limit ? page[page.length - 1]! : null };
    },
  );
};
