export { buildOrchestrator, type Orchestrator, type OrchestratorDeps } from './app.js';
export { Alerter, WebhookNotifier, type Notifier } from './alerts.js';
export { planPlacements, type PlacementDecision } from './domain/placement.js';
export { decideFault, alertForStatus } from './domain/faults.js';
export { Dispatcher, type DispatcherDeps } from './dispatcher.js';
export { assign, type Candidate, type Wanted } from './domain/assign.js';
