import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { RateLimiter } from '@postbus/contracts';
import type { TokenKeyring } from '@postbus/secrets';
import { metrics } from '@postbus/telemetry';
import type { Hit, OpenRecorder } from '../adapters/hits.js';
import { LIMITS } from '../deps.js';
import { messageRef, recordedOpen } from '../domain/events.js';
import { classifySource } from '../domain/user-agent.js';
import { PIXEL, PIXEL_HEADERS } from './responses.js';

export interface PixelFastPathOptions {
  readonly tokens: TokenKeyring;
  readonly opens: OpenRecorder;
  readonly limiter: RateLimiter;
  readonly clock: () => Date;
}

/**
 * The open a pixel request makes, if any: a GET with an authentic open token whose ids fit the
 * log (a HEAD, or a bad token, records nothing). Counted in the metrics. Shared by the fast path
 * and the fastify route (routes/track.ts), so both record alike.
 */
export function openHit(tokens: TokenKeyring, clock: () => Date, method: string | undefined, token: unknown, userAgent: string | undefined): Hit | undefined {
  if (method !== 'GET' || typeof token !== 'string' || token.length > LIMITS.tokenChars.open) return undefined;
  const opened = tokens.open('open', token);
  const ref = opened.ok ? messageRef(opened.payload) : undefined;
  if (!ref) return undefined;
  const source = classifySource(userAgent);
  metrics.trackingHit('open', source).inc();
  return { accountId: ref.accountId, open: recordedOpen(ref, source, clock()) };
}

const PREFIX = '/track/open/';
const TOKEN = /^[A-Za-z0-9_-]+$/;
const HEADERS = { ...PIXEL_HEADERS, 'content-length': String(PIXEL.length) };

/**
 * The open pixel, answered in front of fastify: the platform's hottest request, and the one
 * where the framework's per-request work (routing, hooks, reply) cost as much as everything
 * the pixel itself needs. It answers only the plain case — GET or HEAD of
 * `/track/open/<base64url token>` (a query string is ignored) from a client within its rate —
 * with the same bytes and headers as the fastify route (routes/track.ts), and records the open
 * the same way, after the answer is written. Anything else (another path, an odd token, a
 * client over its rate) returns false and goes through fastify, which answers it as before:
 * its rate-limit hook says 429 (a refused take uses no token, so the client is not charged twice).
 *
 * The client's address is the socket's, as fastify's `request.ip` with trustProxy off.
 */
export function pixelFastPath({ tokens, opens, limiter, clock }: PixelFastPathOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const { method, url } = req;
    if ((method !== 'GET' && method !== 'HEAD') || url === undefined || !url.startsWith(PREFIX)) return false;
    const q = url.indexOf('?', PREFIX.length);
    const token = q < 0 ? url.slice(PREFIX.length) : url.slice(PREFIX.length, q);
    if (token.length === 0 || token.length > LIMITS.tokenChars.open || !TOKEN.test(token)) return false;
    if (!limiter.take(req.socket.remoteAddress ?? '', performance.now()).ok) return false;
    const hit = openHit(tokens, clock, method, token, req.headers['user-agent']);
    res.writeHead(200, HEADERS);
    res.end(PIXEL); // a HEAD answer carries no body: node leaves it out
    if (hit) opens.record(hit);
    return true;
  };
}
