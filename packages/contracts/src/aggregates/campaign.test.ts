import { describe, expect, it } from 'vitest';
import type { CampaignEvent } from '../events/campaign.js';
import { decideCampaign, foldCampaign, type CampaignCommand } from './campaign.js';

const NOW = '2030-01-01T00:00:00.000Z';
const ctx = { eventId: 'evt_1', now: NOW };
const ID = 'cmp_01J00000000000000000000000';
const at = (n: number) => `2030-01-01T00:00:0${n}.000Z`;

const created: CampaignEvent = {
  id: 'e1', type: 'CampaignCreated', version: 1, occurredAt: at(0),
  data: { campaignId: ID, name: 'Spring', kind: 'bulk', template: { subject: 'Hi', text: 'Hello' }, expiresInHours: 72, actor: 'admin' },
};
const added: CampaignEvent = { id: 'e2', type: 'RecipientsAdded', version: 1, occurredAt: at(1), data: { chunkKey: 'c1', count: 50, actor: 'admin' } };
const started: CampaignEvent = { id: 'e3', type: 'CampaignStarted', version: 1, occurredAt: at(2), data: { actor: 'admin' } };
const paused: CampaignEvent = { id: 'e4', type: 'CampaignPaused', version: 1, occurredAt: at(3), data: { reason: 'r', actor: 'admin' } };
const cancelled: CampaignEvent = { id: 'e5', type: 'CampaignCancelled', version: 1, occurredAt: at(4), data: { reason: 'r', actor: 'admin' } };

/** Given these events, when this command: these event types, or this error code. */
function when(given: CampaignEvent[], command: CampaignCommand): string[] | { error: string } {
  try {
    return decideCampaign(command, foldCampaign(given), ctx).map((e) => e.type);
  } catch (err) {
    return { error: (err as { code: string }).code };
  }
}

const send = (a?: string): CampaignCommand => ({ type: 'SendCampaign', campaignId: ID, actor: 'admin', ...(a ? { at: a } : {}) });
const pause: CampaignCommand = { type: 'PauseCampaign', campaignId: ID, reason: 'r', actor: 'admin' };
const resume: CampaignCommand = { type: 'ResumeCampaign', campaignId: ID, reason: 'r', actor: 'admin' };
const cancel: CampaignCommand = { type: 'CancelCampaign', campaignId: ID, reason: 'r', actor: 'admin' };
const complete: CampaignCommand = { type: 'CompleteCampaign', campaignId: ID, requested: 50 };

describe('campaign decider', () => {
  it('sends now, or schedules a later time; an empty campaign cannot be sent', () => {
    expect(when([created, added], send())).toEqual(['CampaignStarted']);
    expect(when([created, added], send('2031-01-01T00:00:00.000Z'))).toEqual(['CampaignScheduled']);
    expect(when([created], send())).toEqual({ error: 'campaign_empty' });
    expect(when([], send())).toEqual({ error: 'campaign_not_found' });
  });

  it('uses the schedule chosen at creation, and the scheduler starts it only when due', () => {
    const withSendAt: CampaignEvent = { ...created, data: { ...created.data, sendAt: '2030-01-01T00:00:00.000Z' } as typeof created.data };
    expect(when([withSendAt, added], send())).toEqual(['CampaignStarted']);
    const later: CampaignEvent = { id: 'e3', type: 'CampaignScheduled', version: 1, occurredAt: at(2), data: { at: '2030-06-01T00:00:00.000Z', actor: 'admin' } };
    expect(when([created, added, later], { type: 'StartScheduledCampaign', campaignId: ID, actor: 'scheduler' })).toEqual([]);
    const due: CampaignEvent = { ...later, data: { at: NOW, actor: 'admin' } };
    expect(when([created, added, due], { type: 'StartScheduledCampaign', campaignId: ID, actor: 'scheduler' })).toEqual(['CampaignStarted']);
  });

  it('pauses and resumes a running campaign; repeating either changes nothing', () => {
    expect(when([created, added, started], pause)).toEqual(['CampaignPaused']);
    expect(when([created, added, started, paused], pause)).toEqual([]);
    expect(when([created, added, started, paused], resume)).toEqual(['CampaignResumed']);
    expect(when([created, added, started], resume)).toEqual([]);
    expect(when([created, added], pause)).toEqual({ error: 'campaign_draft' });
  });

  it('cancels from any state but cancelled, and nothing comes back from cancelled', () => {
    expect(when([created], cancel)).toEqual(['CampaignCancelled']);
    expect(when([created, added, started, paused], cancel)).toEqual(['CampaignCancelled']);
    expect(when([created, added, started, cancelled], cancel)).toEqual([]);
    expect(when([created, added, started, cancelled], resume)).toEqual({ error: 'campaign_cancelled' });
    expect(when([created, added, started, cancelled], send())).toEqual({ error: 'campaign_cancelled' });
    expect(when([created, added, started, cancelled], complete)).toEqual([]);
  });

  it('adds a chunk once, and only before the send', () => {
    const add = (chunkKey: string): CampaignCommand => ({ type: 'AddRecipients', campaignId: ID, chunkKey, count: 10, actor: 'admin' });
    expect(when([created, added], add('c2'))).toEqual(['RecipientsAdded']);
    expect(when([created, added], add('c1'))).toEqual([]);
    expect(when([created, added, started], add('c2'))).toEqual({ error: 'campaign_not_editable' });
    expect(foldCampaign([created, added])?.recipients).toBe(50);
  });

  it('completes a running campaign only', () => {
    expect(when([created, added, started], complete)).toEqual(['CampaignCompleted']);
    expect(when([created, added, started, paused], complete)).toEqual([]);
    expect(foldCampaign([created, added, started, { id: 'e9', type: 'CampaignCompleted', version: 1, occurredAt: at(5), data: { requested: 50 } }])).toMatchObject({ status: 'completed', requested: 50 });
  });
});
