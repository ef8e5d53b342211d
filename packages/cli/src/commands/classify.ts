import { readFile } from 'node:fs/promises';
import { parseReport, type ParsedReport } from '@postbus/classify';
import type { TextOut } from '../progress.js';

export interface ClassifyFilesInput {
  readonly files: readonly string[];
  readonly stdout: TextOut;
  readonly stderr: TextOut;
  /** Injected for tests; reads the raw mail. */
  readonly read?: (file: string) => Promise<Uint8Array>;
}

/**
 * Prints one JSON line per recipient of each report mail (one line with recipient null when
 * none is found). A file that cannot be read or parsed is reported on stderr and makes the
 * exit code 1, after the others are done.
 */
export async function classifyFiles(input: ClassifyFilesInput): Promise<number> {
  const read = input.read ?? ((f: string) => readFile(f));
  let code = 0;
  for (const file of input.files) {
    let report: ParsedReport;
    try {
      report = parseReport(await read(file));
    } catch (err) {
      input.stderr.write(`${JSON.stringify({ file, error: err instanceof Error ? err.message : String(err) })}\n`);
      code = 1;
      continue;
    }
    for (const line of lines(file, report)) input.stdout.write(`${JSON.stringify(line)}\n`);
  }
  return code;
}

function lines(file: string, r: ParsedReport): Array<Record<string, unknown>> {
  const complaint = r.complaint ?? null;
  if (r.recipients.length === 0) {
    return [{ file, recipient: null, kind: r.kind, status: null, replyCode: null, reason: null, severity: null, hard: false, suppress: false, complaint }];
  }
  return r.recipients.map((x) => ({
    file,
    recipient: x.recipient,
    kind: r.kind,
    status: x.status ?? null,
    replyCode: x.replyCode ?? null,
    reason: x.reason,
    severity: x.severity,
    // A hard bounce: a dead address (complaints suppress too, but are not bounces).
    hard: x.severity === 'hard',
    suppress: x.suppress,
    complaint,
  }));
}
