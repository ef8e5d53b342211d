/** One stored message of a stream, as an ordered reader sees it. */
export interface StoredMessage {
  readonly stream: string;
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  /** The trace context it was published in (W3C `traceparent`, `tracestate`), if any. */
  readonly trace?: Readonly<Record<string, string>>;
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
