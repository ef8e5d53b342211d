import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { RateLimiter } from '@postbus/contracts';
import type { Opens } from '../adapters/opens.js';
import { LIMITS } from '../deps.js';
import { PIXEL, PIXEL_HEADERS } from './responses.js';

export interface PixelFastPathOptions {
  readonly opens: Opens;
  readonly limiter: RateLimiter;
  /** Milliseconds since the epoch (the service's clock). */
  readonly now: () => number;
}

const PREFIX = '/track/open/';
const TOKEN = /^[A-Za-z0-9_-]+$/;
const HEADERS = { ...PIXEL_HEADERS, 'content-length': String(PIXEL.length) };

/**
 * The open pixel, answered in front of fastify: the platform's hottest request, and the one
 * where the framework's per-request work (routing, hooks, reply) cost as much as everything
 * the pixel itself needs. It answers only the plain case — GET or HEAD of
 * `/track/open/<base64url token>` (a query string is ignored) from a client within its rate —
 * with the same bytes and headers as the fastify route (routes/track.ts), and hands a GET's
 * open over the same way, after the answer is written (adapters/opens.ts: the token is opened
 * there, off this path when the open worker runs). Anything else (another path, an odd token, a
 * client over its rate) returns false and goes through fastify, which answers it as before:
 * its rate-limit hook says 429 (a refused take uses no token, so the client is not charged twice).
 *
 * The client's address is the socket's, as fastify's `request.ip` with trustProxy off.
 */
export function pixelFastPath({ opens, limiter, now }: PixelFastPathOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const { method, url } = req;
    if ((method !== 'GET' && method !== 'HEAD') || url === undefined || !url.startsWith(PREFIX)) return false;
    const q = url.indexOf('?', PREFIX.length);
    const token = q < 0 ? url.slice(PREFIX.length) : url.slice(PREFIX.length, q);
    if (token.length === 0 || token.length > LIMITS.tokenChars.open || !TOKEN.test(token)) return false;
    if (!limiter.take(req.socket.remoteAddress ?? '', performance.now()).ok) return false;
    res.writeHead(200, HEADERS);
    res.end(PIXEL); // a HEAD answer carries no body: node leaves it out
    if (method === 'GET') opens.record(token, req.headers['user-agent'], now());
    return true;
  };
}
