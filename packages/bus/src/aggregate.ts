import { decodeEvent, type PostbusEvent } from '@postbus/contracts';
import type { Bus } from './connection.js';
import { mapReadError } from './publish.js';
import { openCursor } from './reader.js';

export interface AggregateRead<E extends PostbusEvent = PostbusEvent> {
  readonly events: E[];
  /** The stream sequence of the subject's last event (0: none): the expectation for the next append. */
  readonly lastSeq: number;
}

/** Reads every event of one aggregate subject, in order, validated and upcast. */
export async function readAggregate<E extends PostbusEvent = PostbusEvent>(bus: Bus, stream: string, subject: string): Promise<AggregateRead<E>> {
  try {
    return await readAll<E>(bus, stream, subject);
  } catch (err) {
    throw mapReadError(err);
  }
}

async function readAll<E extends PostbusEvent>(bus: Bus, stream: string, subject: string): Promise<AggregateRead<E>> {
  const last = await bus.jsm.streams.getMessage(stream, { last_by_subj: subject }).catch((err: unknown) => {
    if ((err as { code?: number }).code === 10037 || /no message found/i.test(String((err as Error).message))) return null;
    throw err;
  });
  if (!last) return { events: [], lastSeq: 0 };
  const cursor = await openCursor(bus, stream, 1, subject);
  const events: E[] = [];
  try {
    let seq = 0;
    while (seq < last.seq) {
      for (const m of await cursor.next(1_000, 5_000)) {
        events.push(decodeEvent(m.data) as E);
        seq = m.seq;
      }
    }
  } finally {
    await cursor.close();
  }
  return { events, lastSeq: last.seq };
}
