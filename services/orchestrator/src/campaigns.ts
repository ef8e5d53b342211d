import { executeCampaignCommand, publishEvent, readCampaign, type Bus } from '@postbus/bus';
import { validateEvent, type CampaignState } from '@postbus/contracts';
import {
  NotLeaderError,
  activeCampaigns,
  assertLeader,
  campaignCounts,
  lockPendingRecipients,
  markRequested,
  setCampaignActive,
  type Database,
  type Leadership,
} from '@postbus/db';
import type { Logger } from '@postbus/telemetry';
import { campaignRequest } from './domain/campaign-request.js';

export interface CampaignExpanderDeps {
  readonly bus: Bus;
  readonly db: Database;
  readonly log: Logger;
  readonly clock?: () => Date;
  /** At most this many messages of a campaign requested and not yet at an outcome (default 200). */
  readonly window?: number;
}

/**
 * The leader's campaign expansion: scheduled campaigns start when due, and a running
 * campaign's recipients become `EmailRequested` messages a window at a time — only as many
 * as keep its messages in flight (requested, not yet at an outcome) under the window, and
 * only after the aggregate said "running" for this pass. So a pause stops the campaign
 * within one window (the messages already requested go out), and a cancel stops it too (the
 * admin then cancels what is not yet claimed). Message ids derive from (campaign, recipient),
 * so a pass repeated after a crash publishes the same events, which JetStream and the
 * dispatcher's ledger insert both drop.
 */
export class CampaignExpander {
  private readonly clock: () => Date;
  private readonly window: number;
  leadership: Leadership | undefined;

  constructor(private readonly deps: CampaignExpanderDeps) {
    this.clock = deps.clock ?? (() => new Date());
    this.window = deps.window ?? 200;
  }

  async tick(): Promise<number> {
    let requested = 0;
    for (const id of await activeCampaigns(this.deps.db)) {
      const state = await readCampaign(this.deps.bus, id);
      if (!state) continue;
      requested += await this.step(state);
    }
    return requested;
  }

  private async step(c: CampaignState): Promise<number> {
    const now = this.clock();
    switch (c.status) {
      case 'scheduled':
        if (c.scheduledAt !== null && Date.parse(c.scheduledAt) <= now.getTime()) {
          const { state } = await executeCampaignCommand(this.deps.bus, { type: 'StartScheduledCampaign', campaignId: c.id, actor: 'scheduler' }, now);
          if (state?.status === 'running') {
            this.deps.log.info({ campaignId: c.id }, 'scheduled campaign started');
            return this.expand(state);
          }
        }
        return 0;
      case 'running':
        return this.expand(c);
      case 'completed':
      case 'cancelled':
        await setCampaignActive(this.deps.db, c.id, false);
        return 0;
      case 'draft':
      case 'paused':
        return 0;
      default: {
        const never: never = c.status;
        return never;
      }
    }
  }

  private async expand(c: CampaignState): Promise<number> {
    const counts = await campaignCounts(this.deps.db, c.id);
    if (counts.requested >= counts.recipients) {
      await executeCampaignCommand(this.deps.bus, { type: 'CompleteCampaign', campaignId: c.id, requested: counts.requested }, this.clock());
      await setCampaignActive(this.deps.db, c.id, false);
      this.deps.log.info({ campaignId: c.id, requested: counts.requested }, 'campaign expanded: every recipient requested');
      return 0;
    }
    const room = Math.min(this.window - counts.outstanding, 500);
    if (room <= 0) return 0;
    const now = this.clock();
    return this.deps.db.tx(async (tx) => {
      if (!this.leadership) throw new NotLeaderError('this orchestrator', 0);
      await assertLeader(tx, this.leadership);
      const batch = await lockPendingRecipients(tx, c.id, room);
      const events = batch.map((r) => campaignRequest(c, r, now));
      await Promise.all(
        events.map(async (e) => {
          try {
            validateEvent(e);
          } catch (err) {
            // Recipients were checked at import; one that no longer fits is skipped, not retried for ever.
            this.deps.log.error({ err, campaignId: c.id, messageId: e.messageId }, 'campaign message cannot be requested: skipped');
            return;
          }
          await publishEvent(this.deps.bus, this.deps.bus.subjects.request(e.messageId!), e);
        }),
      );
      await markRequested(tx, c.id, batch.map((r) => r.seq), now);
      return batch.length;
    });
  }
}
