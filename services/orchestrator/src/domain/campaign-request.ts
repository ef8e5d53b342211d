import { eventIds, type CampaignState, type EmailRequested } from '@postbus/contracts';

export interface CampaignRecipient {
  readonly address: string;
  readonly toName: string | null;
  readonly variables: Readonly<Record<string, string>> | null;
  readonly messageId: string;
}

/** One recipient of a campaign as the `EmailRequested` the admin would have published for it (pure). */
export function campaignRequest(c: CampaignState, r: CampaignRecipient, now: Date): EmailRequested {
  const t = c.template;
  return {
    id: eventIds.requested(r.messageId),
    type: 'EmailRequested',
    version: 1,
    occurredAt: now.toISOString(),
    messageId: r.messageId,
    ...(c.accountId !== null ? { accountId: c.accountId } : {}),
    data: {
      kind: c.kind,
      ...(c.accountId !== null ? { accountId: c.accountId } : {}),
      campaignId: c.id,
      content: {
        to: r.address,
        ...(r.toName !== null ? { toName: r.toName } : {}),
        ...(t.replyTo !== undefined ? { replyTo: t.replyTo } : {}),
        subject: t.subject,
        ...(t.text !== undefined ? { text: t.text } : {}),
        ...(t.html !== undefined ? { html: t.html } : {}),
        ...(t.headers !== undefined ? { headers: t.headers } : {}),
        ...(r.variables !== null && Object.keys(r.variables).length > 0 ? { variables: { ...r.variables } } : {}),
        ...(t.tracking !== undefined ? { tracking: t.tracking } : {}),
      },
      expiresAt: new Date(now.getTime() + c.expiresInHours * 3_600_000).toISOString(),
      requestedBy: `campaign:${c.id}`,
    },
  };
}
