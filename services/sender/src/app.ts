import { SenderNode, type SenderNodeOptions } from './node.js';

export type SenderDeps = SenderNodeOptions;

/** Builds a sender node; `start(signal)` begins work, `stop()` finishes the messages in hand. */
export function buildSender(deps: SenderDeps): SenderNode {
  return new SenderNode(deps);
}
