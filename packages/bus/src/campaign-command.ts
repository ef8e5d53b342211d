import { decideCampaign, evolveCampaign, foldCampaign, isPostbusError, newId, streamName, type CampaignCommand, type CampaignEvent, type CampaignState } from '@postbus/contracts';
import type { Bus } from './connection.js';
import { publishEvent } from './publish.js';
import { readAggregate } from './aggregate.js';

export interface CampaignCommandResult {
  readonly state: CampaignState | null;
  readonly events: CampaignEvent[];
}

export async function readCampaign(bus: Bus, campaignId: string): Promise<CampaignState | null> {
  const read = await readAggregate<CampaignEvent>(bus, streamName(bus.ns, 'CAMPAIGNS'), bus.subjects.campaign(campaignId));
  return foldCampaign(read.events);
}

/**
 * Runs a command against the campaign aggregate on `camp.<id>`, as accounts do: read,
 * decide, append with `expect.lastSubjectSequence`; a concurrent append means deciding again.
 */
export async function executeCampaignCommand(bus: Bus, command: CampaignCommand, now: Date, attempts = 3): Promise<CampaignCommandResult> {
  const subject = bus.subjects.campaign(command.campaignId);
  for (let i = 1; ; i++) {
    const read = await readAggregate<CampaignEvent>(bus, streamName(bus.ns, 'CAMPAIGNS'), subject);
    const state = foldCampaign(read.events);
    const events = decideCampaign(command, state, { eventId: newId('evt'), now: now.toISOString() });
    try {
      let expected = read.lastSeq;
      for (const event of events) expected = (await publishEvent(bus, subject, event, { expectLastSubjectSeq: expected })).seq;
      return { state: events.reduce<CampaignState | null>(evolveCampaign, state), events };
    } catch (err) {
      if (i < attempts && isPostbusError(err) && err.code === 'concurrent_change') continue;
      throw err;
    }
  }
}
