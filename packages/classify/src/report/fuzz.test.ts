import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REPORT_REASONS, ReportParseError, parseReport, type ParsedReport } from '../index.js';

// Deterministic PRNG (mulberry32) so a failure reproduces.
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const dir = new URL('../../fixtures/reports/', import.meta.url);
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.eml'))
  .sort()
  .map((f) => readFileSync(new URL(f, dir), 'latin1'));

const KINDS = new Set(['bounce', 'delay', 'complaint', 'unsubscribe', 'auto_reply', 'unknown']);
const SEVERITIES = new Set(['hard', 'soft', 'sender']);

function wellFormed(r: ParsedReport): void {
  expect(KINDS.has(r.kind)).toBe(true);
  expect(typeof r.truncated).toBe('boolean');
  expect(typeof r.original.headers).toBe('object');
  for (const x of r.recipients) {
    expect(typeof x.recipient).toBe('string');
    expect(REPORT_REASONS).toContain(x.reason);
    expect(SEVERITIES.has(x.severity)).toBe(true);
    expect(x.suppress).toBe(x.severity === 'hard' || x.reason === 'complained' || x.reason === 'unsubscribed');
    if (x.diagnostic !== undefined) expect(x.diagnostic.length).toBeLessThanOrEqual(1000);
  }
}

function attempt(input: string | Uint8Array): void {
  const started = performance.now();
  try {
    wellFormed(parseReport(input));
  } catch (err) {
    if (!(err instanceof ReportParseError)) throw err;
  }
  const ms = performance.now() - started;
  if (ms > 1500) throw new Error(`slow input: ${ms.toFixed(0)} ms`);
}

function mutate(src: string, next: () => number): string {
  const pick = (n: number) => Math.floor(next() * n);
  switch (pick(7)) {
    case 0:
      return src.slice(0, pick(src.length + 1));
    case 1: {
      const chars = src.split('');
      for (let i = 0; i < 1 + pick(20); i++) chars[pick(chars.length)] = String.fromCharCode(pick(256));
      return chars.join('');
    }
    case 2: {
      const m = /boundary="?([^";\s]+)/.exec(src);
      if (!m) return src + src;
      const line = `\n--${m[1]}\n`;
      return src.replace(line, line.repeat(2 + pick(50)));
    }
    case 3:
      return src.replace(/\n\s*\n/g, '\n');
    case 4: {
      const at = src.indexOf('\n');
      return `${src.slice(0, at)}\nX-Giant: ${'a'.repeat(100_000 + pick(400_000))}${src.slice(at)}`;
    }
    case 5: {
      const lines = src.split('\n');
      for (let i = 0; i < 5; i++) lines.splice(pick(lines.length), 0, lines[pick(lines.length)] ?? '');
      return lines.join('\n');
    }
    default:
      return src.replace(/\n/g, pick(2) ? '\r\n' : '\r');
  }
}

describe('parseReport fuzz', () => {
  it('random bytes and mutated fixtures: typed error or a well-formed result, fast', () => {
    const next = rng(20261129);
    for (let i = 0; i < 1000; i++) {
      const bytes = new Uint8Array(Math.floor(next() * 2000));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(next() * 256);
      attempt(bytes);
    }
    for (let i = 0; i < 2000; i++) attempt(mutate(fixtures[i % fixtures.length] as string, next));
  });

  it('pathological shapes', () => {
    const started = performance.now();
    attempt(`Subject: x\n\n${'a'.repeat(5 * 1024 * 1024)}`);
    attempt(`X-Long: ${'a'.repeat(5 * 1024 * 1024)}`);
    attempt(`From: MAILER-DAEMON@x\nSubject: Undelivered Mail\nContent-Type: multipart/report; boundary=b\n\n--b\n\n${'<a@b.example>: '.repeat(400_000)}`);
    attempt(`From: MAILER-DAEMON@x\nSubject: failure notice\n\n${'<a@b.c'.repeat(200_000)}`);
    attempt(`Subject: ${'=?UTF-8?B?'.repeat(100_000)}\n\nx`);
    attempt(`Content-Type: multipart/report; boundary=b\n\n${'--b\nContent-Type: message/delivery-status\n\n'.repeat(5000)}`);
    let nested = 'Content-Type: message/rfc822\n\nSubject: deep\n\nx';
    for (let i = 0; i < 500; i++) nested = `Content-Type: multipart/mixed; boundary=b${i}\n\n--b${i}\n${nested}\n--b${i}--`;
    attempt(nested);
    attempt(`Content-Type: multipart/mixed; boundary=${'x'.repeat(50_000)}\n\n`);
    attempt(`From: postmaster@x\nSubject: Undeliverable\n\n${'user '.repeat(200_000)}@\n${'a@'.repeat(300_000)}`);
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
