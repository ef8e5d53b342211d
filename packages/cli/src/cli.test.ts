import { describe, expect, it } from 'vitest';
import { parseArgs } from './args.js';
import { commands, findCommand, runCli, type Command } from './cli.js';
import { progressLine, progressPrinter } from './progress.js';

function capture(isTTY = false) {
  let text = '';
  return { out: { write: (s: string) => (text += s), isTTY }, text: () => text };
}

describe('parseArgs', () => {
  it('keeps positionals in order and reads flags', () => {
    expect(parseArgs(['projections', 'rebuild', 'mail', '--batch=200', '--dry', '--', '--not-a-flag'])).toEqual({
      positionals: ['projections', 'rebuild', 'mail', '--not-a-flag'],
      flags: { batch: '200', dry: true },
    });
    expect(parseArgs(['demo', '--accounts', '3'], new Set(['accounts'])).flags).toEqual({ accounts: '3' });
    expect(parseArgs(['-h']).flags).toEqual({ help: true });
  });
});

describe('progress', () => {
  it('draws a ten-cell bar with percent, projection, stream and counts', () => {
    expect(progressLine({ projection: 'mail', stream: 'MAIL', position: 5200, target: 10000 })).toBe('[#####.....] 52% mail MAIL 5200/10000');
    expect(progressLine({ projection: 'accounts', stream: 'ACCOUNTS', position: 0, target: 0 })).toBe('[##########] 100% accounts ACCOUNTS 0/0');
  });

  it('prints one line per tenth when not on a terminal', () => {
    const c = capture();
    const print = progressPrinter(c.out);
    for (let i = 0; i <= 1000; i += 50) print({ projection: 'mail', stream: 'MAIL', position: i, target: 1000 });
    expect(c.text().trim().split('\n')).toHaveLength(11);
  });

  it('redraws in place on a terminal', () => {
    const c = capture(true);
    const print = progressPrinter(c.out);
    print({ projection: 'mail', stream: 'MAIL', position: 1, target: 2 });
    print({ projection: 'mail', stream: 'MAIL', position: 2, target: 2 });
    expect(c.text()).toBe('\r[#####.....] 50% mail MAIL 1/2\x1b[K\r[##########] 100% mail MAIL 2/2\x1b[K\n');
  });
});

describe('command table', () => {
  const io = () => {
    const out = capture();
    const err = capture();
    return { io: { stdout: out.out, stderr: err.out, env: {} }, out: out.text, err: err.text };
  };

  it('finds the longest matching command', () => {
    expect(findCommand(commands, ['projections', 'rebuild', 'mail'])?.path).toEqual(['projections', 'rebuild']);
    expect(findCommand(commands, ['migrate'])?.path).toEqual(['migrate']);
    expect(findCommand(commands, ['demo'])?.path).toEqual(['demo']);
    expect(findCommand(commands, ['projections'])).toBeUndefined();
  });

  it('help lists every command; no command means help', async () => {
    const a = io();
    expect(await runCli(['help'], a.io)).toBe(0);
    expect(a.out()).toContain('projections rebuild [name...]');
    expect(a.out()).toContain('migrate');
    expect(a.out()).toContain('demo [--exit]');
    const b = io();
    expect(await runCli([], b.io)).toBe(0);
    expect(b.out()).toBe(a.out());
  });

  it('an unknown command exits 2 with the help on stderr', async () => {
    const a = io();
    expect(await runCli(['frobnicate'], a.io)).toBe(2);
    expect(a.err()).toContain('unknown command "frobnicate"');
  });

  it('takes a new command as one more table entry, with its own arguments', async () => {
    const seen: string[][] = [];
    const greet: Command = { path: ['greet'], usage: 'greet [n]', summary: 'a greeting', run: async (ctx) => void seen.push([...ctx.args.positionals]) };
    const a = io();
    expect(await runCli(['greet', '3'], a.io, [...commands, greet])).toBe(0);
    expect(seen).toEqual([['3']]);
  });

  it('reports a failing command on stderr and exits 1', async () => {
    const a = io();
    const boom: Command = { path: ['boom'], usage: 'boom', summary: '', run: async () => Promise.reject(new Error('no database')) };
    expect(await runCli(['boom'], a.io, [boom])).toBe(1);
    expect(a.err()).toBe('postbus boom: no database\n');
  });
});
