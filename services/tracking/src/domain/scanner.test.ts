import { describe, expect, it } from 'vitest';
import { BURST_WINDOW_MS, ClickJudge, SCANNER_WINDOW_MS } from './scanner.js';

const sent = 1_780_000_000; // seconds
const at = (ms: number) => sent * 1000 + ms;

describe('ClickJudge', () => {
  it('flags a click within seconds of sending, not one a minute later', () => {
    const j = new ClickJudge();
    expect(j.judge({ messageId: 'm1', url: 'https://a.example/1', issuedAtSeconds: sent, byUserAgent: 'human', nowMs: at(SCANNER_WINDOW_MS - 1) })).toBe('scanner');
    expect(j.judge({ messageId: 'm2', url: 'https://a.example/1', issuedAtSeconds: sent, byUserAgent: 'human', nowMs: at(60_000) })).toBe('human');
  });

  it('flags every link of a message followed at once, but not one link clicked twice', () => {
    const j = new ClickJudge();
    expect(j.judge({ messageId: 'm', url: 'https://a.example/1', issuedAtSeconds: sent, byUserAgent: 'human', nowMs: at(3_600_000) })).toBe('human');
    expect(j.judge({ messageId: 'm', url: 'https://a.example/1', issuedAtSeconds: sent, byUserAgent: 'human', nowMs: at(3_600_300) })).toBe('human');
    expect(j.judge({ messageId: 'm', url: 'https://a.example/2', issuedAtSeconds: sent, byUserAgent: 'human', nowMs: at(3_600_500) })).toBe('scanner');
    expect(j.judge({ messageId: 'm', url: 'https://a.example/3', issuedAtSeconds: sent, byUserAgent: 'human', nowMs: at(3_600_500 + BURST_WINDOW_MS + 1_000) })).toBe('human');
  });

  it('keeps what the User-Agent said about proxies and scanners, and judges tokens without a time by the burst rule alone', () => {
    const j = new ClickJudge();
    expect(j.judge({ messageId: 'm', url: 'https://a.example/1', issuedAtSeconds: sent, byUserAgent: 'proxy', nowMs: at(3_600_000) })).toBe('proxy');
    expect(j.judge({ messageId: 'x', url: 'https://a.example/1', byUserAgent: 'human', nowMs: at(1) })).toBe('human');
  });

  it('stays bounded', () => {
    const j = new ClickJudge(100);
    for (let i = 0; i < 1_000; i++) j.judge({ messageId: `m${i}`, url: 'https://a.example/', byUserAgent: 'human', nowMs: i });
    expect((j as unknown as { recent: Map<string, unknown> }).recent.size).toBe(100);
  });
});
