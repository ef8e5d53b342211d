import { describe, expect, it } from 'vitest';
import type { EmailCancelled } from '@postbus/contracts';
import { evolveQueueRow, foldQueueRows, type QueueEvent, type QueueRow } from './domain/queue-row.js';
import { ids, mail, requested } from './testing/events.js';

const m = ids.message();
const acc = ids.account();
const r = { messageId: m, accountId: acc };
const t = (s: number) => new Date(Date.UTC(2025, 0, 1, 12, 0, s)).toISOString();

const cancelled = (assignment: number, attempt: number, at: string, accountId?: string): EmailCancelled & { messageId: string } => ({
  id: `${m}.cancelled`,
  type: 'EmailCancelled',
  version: 1,
  occurredAt: at,
  messageId: m,
  ...(accountId ? { accountId } : {}),
  data: { assignment, attempt, reason: 'wrong list', actor: 'admin' },
});

const fold = (...events: QueueEvent[]): QueueRow => events.reduce<QueueRow | null>((row, e) => evolveQueueRow(row, e), null)!;

describe('email_queue fold: EmailCancelled', () => {
  it('cancels a queued message', () => {
    expect(fold(requested(m, t(0)) as QueueEvent, mail.queued(r, t(1)) as QueueEvent, cancelled(1, 1, t(2), acc))).toMatchObject({ status: 'cancelled', lastReason: 'cancelled' });
  });

  it('cancels a message only requested (assignment 0)', () => {
    expect(fold(requested(m, t(0)) as QueueEvent, cancelled(0, 0, t(1)))).toMatchObject({ status: 'cancelled' });
  });

  it('stays cancelled when the EmailQueued of the same attempt comes after it (the dispatcher raced the cancel)', () => {
    const rows = foldQueueRows(new Map(), [requested(m, t(0)) as QueueEvent, cancelled(1, 1, t(1), acc), mail.queued(r, t(2)) as QueueEvent]);
    expect(rows.get(m)).toMatchObject({ status: 'cancelled', accountId: acc });
  });
});
