// Imported first by main.ts: the SDK must start before `pg` and `http` are loaded, which
// the instrumentations patch as they are required.
import { loadConfig } from '@postbus/config';
import { startTracing } from '@postbus/telemetry';

startTracing({ service: 'orchestrator', endpoint: loadConfig().otlpEndpoint });
