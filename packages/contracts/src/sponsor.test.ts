import { describe, expect, it } from 'vitest';
import {
  checkEndpointUrl,
  hashSponsorApiKey,
  isNonPublicAddress,
  newSponsorApiKey,
  signLead,
  sponsorApiKeyMatches,
  sponsorApiKeyPrefix,
  verifyLeadSignature,
} from './sponsor.js';

describe('sponsor forwarding endpoints (SSRF)', () => {
  it.each([
    'http://sponsor.example/leads',
    'https://127.0.0.1/leads',
    'https://10.1.2.3/x',
    'https://172.20.0.1/x',
    'https://192.168.1.1/x',
    'https://169.254.169.254/latest/meta-data',
    'https://[::1]/x',
    'https://[fe80::1]/x',
    'https://[::ffff:127.0.0.1]/x',
    'https://0.0.0.0/x',
    'https://localhost/x',
    'https://user:pw@sponsor.example/x',
    'ftp://sponsor.example/x',
    'not a url',
  ])('refuses %s', (url) => {
    expect(checkEndpointUrl(url, false).ok).toBe(false);
  });

  it('accepts https to a public name or address', () => {
    expect(checkEndpointUrl('https://sponsor.example/leads', false).ok).toBe(true);
    expect(checkEndpointUrl('https://93.184.216.34/leads', false).ok).toBe(true);
  });

  it('lets tests use plain http on loopback when private endpoints are allowed', () => {
    expect(checkEndpointUrl('http://127.0.0.1:4000/leads', true).ok).toBe(true);
  });

  it('judges resolved addresses', () => {
    expect(isNonPublicAddress('127.0.0.1')).toBe(true);
    expect(isNonPublicAddress('100.64.1.1')).toBe(true);
    expect(isNonPublicAddress('fd00::1')).toBe(true);
    expect(isNonPublicAddress('8.8.8.8')).toBe(false);
    expect(isNonPublicAddress('2606:4700::1111')).toBe(false);
  });
});

describe('sponsor API keys', () => {
  it('are found by prefix and checked by hash', () => {
    const made = newSponsorApiKey();
    expect(sponsorApiKeyPrefix(made.key)).toBe(made.prefix);
    expect(sponsorApiKeyMatches(made.key, made.hash)).toBe(true);
    // Another last character (never the same one: a key ending in A once made this pass by chance).
    expect(sponsorApiKeyMatches(`${made.key.slice(0, -1)}${made.key.endsWith('A') ? 'B' : 'A'}`, made.hash)).toBe(false);
    expect(hashSponsorApiKey(made.key).equals(made.hash)).toBe(true);
    expect(sponsorApiKeyPrefix('Bearer nonsense')).toBeUndefined();
  });
});

describe('lead signatures', () => {
  it('verify with the secret, within the tolerance, and not otherwise', () => {
    const header = signLead('whsec_x', '{"a":1}', 1_700_000_000);
    expect(header).toMatch(/^t=1700000000,v1=[0-9a-f]{64}$/);
    expect(verifyLeadSignature('whsec_x', '{"a":1}', header, 1_700_000_010)).toBe(true);
    expect(verifyLeadSignature('whsec_y', '{"a":1}', header, 1_700_000_010)).toBe(false);
    expect(verifyLeadSignature('whsec_x', '{"a":2}', header, 1_700_000_010)).toBe(false);
    expect(verifyLeadSignature('whsec_x', '{"a":1}', header, 1_700_001_000)).toBe(false);
  });
});
