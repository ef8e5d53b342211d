export { buildSender, type SenderDeps } from './app.js';
export { SenderNode, type SenderNodeOptions } from './node.js';
export { AccountWorker, type WorkerDeps } from './worker.js';
export { outcomeOfFailure, DEFAULT_RETRY_DELAYS_MS } from './domain/outcome.js';
