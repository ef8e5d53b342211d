import { createHash } from 'node:crypto';

/**
 * Every subject and stream name is built here. A namespace prefix (empty in production)
 * lets parallel tests share one nats-server: nats-server 2.9 refuses two streams with
 * overlapping subjects, so tests need their own subject namespace as well as stream names.
 */
export interface Namespace {
  /** Empty, or a lower-case token such as `t3f9a1`. */
  readonly prefix: string;
}

export const REQUEST_SHARDS = 16;
/** Subject token for mail events of messages no account has been given yet. */
export const UNASSIGNED = 'unassigned';

export type StreamBase =
  | 'ACCOUNTS'
  | 'CAMPAIGNS'
  | 'SPONSORS'
  | 'SUPPRESSION'
  | 'MAIL'
  | 'TRACKING'
  | 'REQUESTS'
  | 'OPS'
  | 'DISPATCH';

export function requestShard(messageId: string): number {
  return createHash('sha1').update(messageId).digest().readUInt16BE(0) % REQUEST_SHARDS;
}

export function subjectsFor(ns: Namespace) {
  const p = ns.prefix ? `${ns.prefix}.` : '';
  return Object.freeze({
    account: (accountId: string) => `${p}acct.${accountId}`,
    accounts: `${p}acct.>`,
    campaign: (campaignId: string) => `${p}camp.${campaignId}`,
    campaigns: `${p}camp.>`,
    sponsor: (sponsorId: string) => `${p}sponsor.${sponsorId}`,
    sponsors: `${p}sponsor.>`,
    suppression: (shard: number) => `${p}supp.${shard}`,
    suppressions: `${p}supp.>`,
    mail: (accountId: string, type: string) => `${p}mail.${accountId}.${type}`,
    mailOfAccount: (accountId: string) => `${p}mail.${accountId}.>`,
    mails: `${p}mail.>`,
    tracking: (accountId: string, type: string) => `${p}trk.${accountId}.${type}`,
    trackings: `${p}trk.>`,
    request: (messageId: string) => `${p}req.${requestShard(messageId)}`,
    requests: `${p}req.>`,
    ops: (type: string) => `${p}ops.${type}`,
    opsAll: `${p}ops.>`,
    dispatch: (accountId: string) => `${p}dispatch.${accountId}`,
    dispatches: `${p}dispatch.>`,
    /** The account id inside a `dispatch.<accountId>` or `mail.<accountId>.<type>` subject. */
    accountOf: (subject: string): string | undefined => subject.slice(p.length).split('.')[1],
  });
}

export type Subjects = ReturnType<typeof subjectsFor>;

export function streamName(ns: Namespace, base: StreamBase): string {
  return ns.prefix ? `${ns.prefix.toUpperCase()}_${base}` : base;
}

export function bucketName(ns: Namespace, base: string): string {
  return ns.prefix ? `${ns.prefix}_${base}` : base;
}

/** Durable consumer names may not contain dots or wildcards. */
export function workerConsumerName(accountId: string): string {
  return `worker_${accountId}`;
}
