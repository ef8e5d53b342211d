#!/usr/bin/env node
import { loadConfig } from '@postbus/config';
import { startTracing, stopTracing } from '@postbus/telemetry';
import { runCli } from './cli.js';

// Rebuilds and replays trace their batches (each span linked to the event's original trace)
// when an OTLP endpoint is configured. A configuration the command cannot use is reported by it.
let endpoint = '';
try {
  endpoint = loadConfig(process.env).otlpEndpoint;
} catch {
  endpoint = '';
}
startTracing({ service: 'postbus-cli', endpoint });

// The bin: everything else is in cli.ts so that tests can run commands in-process.
process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
await stopTracing();
