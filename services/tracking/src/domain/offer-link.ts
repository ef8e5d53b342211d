/**
 * Offer links. A link in a message is marked as an offer by a query parameter the composer
 * writes into the URL itself — `https://landing.example/p?postbus_offer=off_…` — so neither
 * packages/mail's link rewriting nor the click token changes: the marked URL is inside the
 * authenticated click token like any other. On the click, the tracking service takes the
 * marker out and puts a lead token in its place (`postbus_lead=…`): the one change it makes
 * to a target. Pure: no I/O.
 */
export const OFFER_PARAM = 'postbus_offer';
export const LEAD_PARAM = 'postbus_lead';
const OFFER_ID = /^off_[0-9A-HJKMNP-TV-Z]{26}$/;

export interface OfferLink {
  readonly offerId: string;
  /** The target without the marker; `withLeadToken` adds the token. */
  readonly url: URL;
}

/** The offer a URL is marked with, or undefined (no marker, or a marker that is not an offer id). */
export function offerLinkOf(target: string): OfferLink | undefined {
  if (!target.includes(`${OFFER_PARAM}=`)) return undefined;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return undefined;
  }
  const offers = url.searchParams.getAll(OFFER_PARAM);
  if (offers.length !== 1 || !OFFER_ID.test(offers[0]!)) return undefined;
  url.searchParams.delete(OFFER_PARAM);
  url.searchParams.delete(LEAD_PARAM);
  return { offerId: offers[0]!, url };
}

/** The redirect: the target without its marker, with the lead token when there is one. */
export function offerRedirect(link: OfferLink, leadToken: string | undefined): string {
  const url = new URL(link.url);
  if (leadToken !== undefined) url.searchParams.set(LEAD_PARAM, leadToken);
  return url.toString();
}
