/**
 * Event ids derived from their cause: the same fact published twice (a retry, a
 * redelivered work item, a recovery) carries the same id, so JetStream's duplicate window
 * and the projections drop the copy.
 */
export const eventIds = {
  requested: (messageId: string) => `${messageId}.requested`,
  waiting: (messageId: string) => `${messageId}.waiting`,
  expired: (messageId: string) => `${messageId}.expired`,
  cancelled: (messageId: string) => `${messageId}.cancelled`,
  attempt: (messageId: string, assignment: number, attempt: number, token: string) => `${messageId}.${assignment}.${attempt}.${token}`,
} as const;
