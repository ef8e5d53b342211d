/** One stored message of a stream, as an ordered reader sees it. */
export interface StoredMessage {
  readonly stream: string;
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
}

export interface StreamCursor {
  /** Up to `max` messages, waiting at most `waitMs` for the first. */
  next(max: number, waitMs: number): Promise<StoredMessage[]>;
  close(): Promise<void>;
}

/** Ordered reads from a sequence on, and where a stream ends (implemented by packages/bus). */
export interface StreamReader {
  open(stream: string, fromSeq: number): Promise<StreamCursor>;
  lastSeq(stream: string): Promise<number>;
}
