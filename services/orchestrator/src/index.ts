export { buildOrchestrator, LEADER_LOCK, type Orchestrator, type OrchestratorDeps } from './app.js';
export { Dispatcher, type DispatcherDeps } from './dispatcher.js';
export { assign, type Candidate, type Wanted } from './domain/assign.js';
