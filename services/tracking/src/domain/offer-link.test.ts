import { describe, expect, it } from 'vitest';
import { offerLinkOf, offerRedirect } from './offer-link.js';

const OFFER = 'off_01J0000000000000000000000A';

describe('offer links', () => {
  it('are links marked with postbus_offer; the marker is replaced by the lead token', () => {
    const link = offerLinkOf(`https://landing.example/p?a=1&postbus_offer=${OFFER}&b=2`);
    expect(link?.offerId).toBe(OFFER);
    expect(offerRedirect(link!, 'v1.k1.iv.ct.tag')).toBe('https://landing.example/p?a=1&b=2&postbus_lead=v1.k1.iv.ct.tag');
    expect(offerRedirect(link!, undefined)).toBe('https://landing.example/p?a=1&b=2');
  });

  it('leave other links alone', () => {
    expect(offerLinkOf('https://landing.example/p?a=1')).toBeUndefined();
    expect(offerLinkOf('https://landing.example/p?postbus_offer=nope')).toBeUndefined();
    expect(offerLinkOf(`https://landing.example/p?postbus_offer=${OFFER}&postbus_offer=${OFFER}`)).toBeUndefined();
  });

  it('never pass on a lead token that was in the message itself', () => {
    const link = offerLinkOf(`https://landing.example/p?postbus_offer=${OFFER}&postbus_lead=forged`);
    expect(offerRedirect(link!, undefined)).toBe('https://landing.example/p');
  });
});
