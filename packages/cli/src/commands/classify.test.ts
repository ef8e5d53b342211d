import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../../classify/fixtures/reports/${name}`, import.meta.url));

function capture() {
  let text = '';
  return { out: { write: (s: string) => void (text += s), isTTY: false }, text: () => text };
}

describe('postbus classify', () => {
  it('prints one JSON line per recipient, and an error line plus exit 1 for an unreadable file', async () => {
    const out = capture();
    const err = capture();
    const code = await runCli(['classify', fixture('p5-postfix-04.eml'), '/nonexistent/x.eml', fixture('p5-arf-02.eml')], { stdout: out.out, stderr: err.out, env: {} });
    expect(code).toBe(1);
    const lines = out.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ recipient: 'kijitora@example.co.jp', kind: 'bounce', status: '5.1.1', replyCode: 550, reason: 'unknown_user', severity: 'hard', hard: true, suppress: true, complaint: null });
    expect(lines[1]).toMatchObject({ recipient: 'this-local-part-does-not-exist-on-yahoo@yahoo.com', kind: 'complaint', reason: 'complained', severity: 'sender', hard: false, suppress: true, complaint: { feedbackType: 'abuse' } });
    expect(err.text()).toContain('/nonexistent/x.eml');
  });

  it('needs a file', async () => {
    const err = capture();
    expect(await runCli(['classify'], { stdout: capture().out, stderr: err.out, env: {} })).toBe(2);
  });
});
