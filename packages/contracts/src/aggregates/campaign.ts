import { PostbusError } from '../errors.js';
import type { CampaignEvent, CampaignTemplate } from '../events/campaign.js';
import type { MessageKind } from '../events/mail.js';
import type { DecideContext } from './account.js';

/**
 * The campaign aggregate: a pure decider over the events of `camp.<id>`.
 *
 * draft ──send──▶ scheduled ──(due)──▶ running ⇄ paused
 *   └────send (now)──────────────────────▲   └──▶ completed (every recipient requested)
 * any but cancelled ──cancel──▶ cancelled
 */
export type CampaignStatus = 'draft' | 'scheduled' | 'running' | 'paused' | 'completed' | 'cancelled';

export interface CampaignState {
  readonly id: string;
  readonly version: number;
  readonly name: string;
  readonly kind: MessageKind;
  readonly accountId: string | null;
  readonly template: CampaignTemplate;
  readonly expiresInHours: number;
  readonly status: CampaignStatus;
  readonly statusReason: string;
  readonly statusActor: string;
  readonly statusSince: string;
  readonly scheduledAt: string | null;
  /** The schedule chosen at creation: what a send without a time uses. */
  readonly sendAt: string | null;
  /** Recipients added (sum of the chunks' counts). */
  readonly recipients: number;
  readonly chunks: readonly string[];
  /** Set by CampaignCompleted. */
  readonly requested: number | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export type CampaignCommand =
  | {
      readonly type: 'CreateCampaign';
      readonly campaignId: string;
      readonly name: string;
      readonly kind: MessageKind;
      readonly accountId?: string;
      readonly template: CampaignTemplate;
      readonly expiresInHours: number;
      readonly sendAt?: string;
      readonly actor: string;
    }
  | { readonly type: 'AddRecipients'; readonly campaignId: string; readonly chunkKey: string; readonly count: number; readonly actor: string }
  /** Now, or at `at` when it is later than now. */
  | { readonly type: 'SendCampaign'; readonly campaignId: string; readonly at?: string; readonly actor: string }
  /** The scheduler: a scheduled campaign whose time has come. */
  | { readonly type: 'StartScheduledCampaign'; readonly campaignId: string; readonly actor: string }
  | { readonly type: 'PauseCampaign'; readonly campaignId: string; readonly reason: string; readonly actor: string }
  | { readonly type: 'ResumeCampaign'; readonly campaignId: string; readonly reason: string; readonly actor: string }
  | { readonly type: 'CancelCampaign'; readonly campaignId: string; readonly reason: string; readonly actor: string }
  | { readonly type: 'CompleteCampaign'; readonly campaignId: string; readonly requested: number };

/** Statuses in which recipients may still be added. */
export const CAMPAIGN_EDITABLE: ReadonlySet<CampaignStatus> = new Set(['draft', 'scheduled']);

export function evolveCampaign(state: CampaignState | null, event: CampaignEvent): CampaignState | null {
  const status = (s: CampaignState, next: CampaignStatus, reason: string, actor: string): CampaignState => ({
    ...s,
    version: s.version + 1,
    status: next,
    statusReason: reason,
    statusActor: actor,
    statusSince: event.occurredAt,
    updatedAt: event.occurredAt,
  });
  switch (event.type) {
    case 'CampaignCreated': {
      const d = event.data;
      return {
        id: d.campaignId,
        version: 1,
        name: d.name,
        kind: d.kind,
        accountId: d.accountId ?? null,
        template: d.template,
        expiresInHours: d.expiresInHours,
        status: 'draft',
        statusReason: 'created',
        statusActor: d.actor,
        statusSince: event.occurredAt,
        scheduledAt: null,
        sendAt: d.sendAt ?? null,
        recipients: 0,
        chunks: [],
        requested: null,
        createdAt: event.occurredAt,
        updatedAt: event.occurredAt,
      };
    }
    case 'RecipientsAdded':
      if (!state) return state;
      return { ...state, version: state.version + 1, recipients: state.recipients + event.data.count, chunks: [...state.chunks, event.data.chunkKey], updatedAt: event.occurredAt };
    case 'CampaignScheduled':
      return state && { ...status(state, 'scheduled', 'scheduled', event.data.actor), scheduledAt: event.data.at };
    case 'CampaignStarted':
      return state && status(state, 'running', 'started', event.data.actor);
    case 'CampaignPaused':
      return state && status(state, 'paused', event.data.reason, event.data.actor);
    case 'CampaignResumed':
      return state && status(state, 'running', event.data.reason, event.data.actor);
    case 'CampaignCancelled':
      return state && status(state, 'cancelled', event.data.reason, event.data.actor);
    case 'CampaignCompleted':
      return state && { ...status(state, 'completed', 'every recipient requested', 'expansion'), requested: event.data.requested };
    default: {
      const never: never = event;
      return never;
    }
  }
}

export function foldCampaign(events: readonly CampaignEvent[]): CampaignState | null {
  return events.reduce<CampaignState | null>(evolveCampaign, null);
}

const notFound = () => new PostbusError('campaign_not_found', 'no such campaign', { status: 404 });
const conflict = (code: string, detail: string) => new PostbusError(code, detail, { status: 409 });

/**
 * Decides a command against the state: the events to append (none when the command is
 * already satisfied — sending a running campaign again, pausing a paused one), or a typed
 * error with a stable code.
 */
export function decideCampaign(command: CampaignCommand, state: CampaignState | null, ctx: DecideContext): CampaignEvent[] {
  const base = { id: ctx.eventId, version: 1 as const, occurredAt: ctx.now };
  if (command.type === 'CreateCampaign') {
    if (state) throw conflict('campaign_exists', 'campaign already created');
    const { campaignId, name, kind, accountId, template, expiresInHours, sendAt, actor } = command;
    const data = { campaignId, name, kind, ...(accountId !== undefined ? { accountId } : {}), template, expiresInHours, ...(sendAt !== undefined ? { sendAt } : {}), actor };
    return [{ ...base, type: 'CampaignCreated', data }];
  }
  if (!state) throw notFound();
  const s = state.status;
  switch (command.type) {
    case 'AddRecipients':
      if (state.chunks.includes(command.chunkKey)) return [];
      if (!CAMPAIGN_EDITABLE.has(s)) throw conflict('campaign_not_editable', `recipients can be added to a draft or scheduled campaign, not a ${s} one`);
      return [{ ...base, type: 'RecipientsAdded', data: { chunkKey: command.chunkKey, count: command.count, actor: command.actor } }];
    case 'SendCampaign': {
      if (s === 'running' || s === 'completed') return [];
      if (s !== 'draft' && s !== 'scheduled') throw conflict(`campaign_${s}`, `a ${s} campaign cannot be sent (resume a paused one)`);
      if (state.recipients === 0) throw new PostbusError('campaign_empty', 'the campaign has no recipients', { status: 422 });
      const at = command.at ?? state.sendAt ?? undefined;
      if (at !== undefined && Date.parse(at) > Date.parse(ctx.now)) return [{ ...base, type: 'CampaignScheduled', data: { at, actor: command.actor } }];
      return [{ ...base, type: 'CampaignStarted', data: { actor: command.actor } }];
    }
    case 'StartScheduledCampaign':
      if (s !== 'scheduled' || state.scheduledAt === null || Date.parse(state.scheduledAt) > Date.parse(ctx.now)) return [];
      return [{ ...base, type: 'CampaignStarted', data: { actor: command.actor } }];
    case 'PauseCampaign':
      if (s === 'paused') return [];
      if (s !== 'running' && s !== 'scheduled') throw conflict(`campaign_${s}`, `a ${s} campaign cannot be paused`);
      return [{ ...base, type: 'CampaignPaused', data: { reason: command.reason, actor: command.actor } }];
    case 'ResumeCampaign':
      if (s === 'running') return [];
      if (s !== 'paused') throw conflict(`campaign_${s}`, `a ${s} campaign cannot be resumed`);
      return [{ ...base, type: 'CampaignResumed', data: { reason: command.reason, actor: command.actor } }];
    case 'CancelCampaign':
      if (s === 'cancelled') return [];
      return [{ ...base, type: 'CampaignCancelled', data: { reason: command.reason, actor: command.actor } }];
    case 'CompleteCampaign':
      if (s !== 'running') return [];
      return [{ ...base, type: 'CampaignCompleted', data: { requested: command.requested } }];
    default: {
      const never: never = command;
      return never;
    }
  }
}
