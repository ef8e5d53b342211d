export { allProjections, buildProjector, type Projector, type ProjectorDeps } from './app.js';
export { accountsProjection, ACCOUNTS_LOCK_KEY, ACCOUNTS_PROJECTION } from './projections/accounts.js';
export { mailProjection, MAIL_LOCK_KEY, MAIL_PROJECTION } from './projections/mail.js';
export { trackingProjection, TRACKING_LOCK_KEY, TRACKING_PROJECTION } from './projections/tracking.js';
export type { ProjectionOptions } from './options.js';
export {
  evolveQueueRow,
  foldQueueRows,
  initialQueueRow,
  supersedes,
  FINAL_STATUSES,
  STATUS_OF,
  type QueueEvent,
  type QueueRow,
  type QueueStatus,
} from './domain/queue-row.js';
export { sendLogOf, type SendLogRow } from './domain/send-log.js';
export { evolveAccountRow, foldAccountRows, type AccountFact, type AccountRow } from './domain/account-row.js';
export { canonicalTime } from './domain/time.js';
export { unsubscribeRowOf, unsubscribeRows, type SuppressionFact, type UnsubscribeRow } from './domain/unsubscribe-row.js';
