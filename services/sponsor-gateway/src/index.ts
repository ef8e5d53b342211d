export { buildGateway } from './app.js';
export { LIMITS, type GatewayDeps } from './deps.js';
export { LeadForwarder, type ForwarderDeps, type ForwarderOptions } from './adapters/forwarder.js';
export { postJson, type PostResult } from './adapters/http-post.js';
export { judgeAttempt, retryDelayMs, LeadBody, type ForwardedLead } from './domain/lead.js';
