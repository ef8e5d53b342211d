import { decodeEvent, UNASSIGNED, type Namespace, type PostbusEvent } from '@postbus/contracts';
import type { RunnerLog, StoredMessage } from '@postbus/db';

export interface DecodeContext {
  readonly projection: string;
  readonly ns: Namespace;
  readonly log: RunnerLog;
}

/**
 * Decodes a batch in order. An event that does not decode, or that this projection cannot
 * use, is skipped with a warning: one bad message must never stop a projection. Events
 * without an envelope account id take it from their subject (`mail.<accountId>.<type>`,
 * `acct.<accountId>`, `trk.<accountId>.<type>`).
 */
export function decodeBatch<T extends PostbusEvent>(
  ctx: DecodeContext,
  messages: readonly StoredMessage[],
  accept: (e: PostbusEvent) => e is T,
): T[] {
  const prefix = ctx.ns.prefix ? `${ctx.ns.prefix}.` : '';
  const out: T[] = [];
  for (const m of messages) {
    const where = { projection: ctx.projection, stream: m.stream, seq: m.seq, subject: m.subject };
    let event: PostbusEvent;
    try {
      event = decodeEvent(m.data);
    } catch (err) {
      ctx.log.warn({ ...where, reason: (err as Error).message }, 'skipping an invalid event');
      continue;
    }
    if (!accept(event)) {
      ctx.log.warn({ ...where, type: event.type }, 'skipping an event this projection does not read');
      continue;
    }
    const fromSubject = accountInSubject(m.subject.slice(prefix.length));
    out.push(event.accountId === undefined && fromSubject ? { ...event, accountId: fromSubject } : event);
  }
  return out;
}

function accountInSubject(subject: string): string | undefined {
  const [root, account] = subject.split('.');
  return (root === 'mail' || root === 'acct' || root === 'trk') && account !== UNASSIGNED ? account : undefined;
}
