import type { RunnerLog } from '@postbus/db';

export interface ProjectionOptions {
  /** Where skipped events are reported. */
  readonly log?: RunnerLog;
}

export const silentLog: RunnerLog = { info() {}, warn() {}, error() {} };
