#!/usr/bin/env node
import { runCli } from './cli.js';

// The bin: everything else is in cli.ts so that tests can run commands in-process.
process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
