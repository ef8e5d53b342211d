export { buildTracking } from './app.js';
export { LIMITS, type TrackingDeps } from './deps.js';
export { ensureOutbox, outboxSize, SUPPRESSION_REASON, SUPPRESSION_SOURCE } from './adapters/outbox.js';
export { reconcileOnce, startReconciler, type ReconcileDeps, type ReconcileOptions, type ReconcileResult, type ReconcilerLoop } from './reconciler.js';
export { classifySource } from './domain/user-agent.js';
export { suppressionEventId } from './domain/events.js';
export { PIXEL } from './http/responses.js';
