import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { checkEndpointUrl, isNonPublicAddress } from '@postbus/contracts';

const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * Resolves like node does and refuses a name that resolves to any non-public address, at
 * connection time, so a name re-pointed after the admin checked it (DNS rebinding) gets nowhere.
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, '', 0);
    if (addresses.length === 0 || addresses.some((a) => isNonPublicAddress(a.address))) {
      return callback(Object.assign(new Error('endpoint resolves to a non-public address'), { code: 'ENDPOINT_PRIVATE' }), '', 0);
    }
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
    const first = addresses[0]!;
    return callback(null, first.address, first.family);
  });
};

export type PostResult = { readonly status: number } | { readonly error: string };

/**
 * One POST, no redirects followed, bounded in time and in what is read back. The answer counts
 * only once its whole body has arrived: a 200 whose connection drops is an error (the sponsor
 * may have the lead; the retry carries the same idempotency key).
 */
export function postJson(rawUrl: string, headers: Record<string, string>, body: string, opts: { allowPrivate: boolean; timeoutMs: number }): Promise<PostResult> {
  const verdict = checkEndpointUrl(rawUrl, opts.allowPrivate);
  if (!verdict.ok) return Promise.resolve({ error: `endpoint refused: ${verdict.reason}` });
  const { url } = verdict;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<PostResult>((resolve) => {
    let settled = false;
    const done = (r: PostResult) => {
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    const req = send(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
        ...(opts.allowPrivate ? {} : { lookup: guardedLookup }),
        timeout: opts.timeoutMs,
      },
      (res: IncomingMessage) => {
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_RESPONSE_BYTES) res.destroy();
        });
        res.on('end', () => done({ status: res.statusCode ?? 0 }));
        res.on('aborted', () => done({ error: 'response interrupted' }));
        res.on('error', () => done({ error: 'response interrupted' }));
        res.on('close', () => {
          if (!res.complete) done({ error: 'response interrupted' });
          else done({ status: res.statusCode ?? 0 });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code === 'ENDPOINT_PRIVATE' ? 'endpoint resolves to a non-public address' : `request failed: ${err.code ?? err.message}`.slice(0, 120) }));
    req.end(body);
  });
}
