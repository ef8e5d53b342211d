import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditEntry } from '@postbus/db';

export type AuditWriter = (e: Omit<AuditEntry, 'at'>) => Promise<void>;

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The route's parameters (ids, hashes): never a body, a query or a header. */
function targetOf(request: FastifyRequest): Record<string, string> {
  const params = (request.params ?? {}) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v).slice(0, 200)]));
}

export function auditEntry(request: FastifyRequest, status: number, outcome: AuditEntry['outcome']): Omit<AuditEntry, 'at'> {
  const route = request.routeOptions.url ?? null;
  return {
    actor: request.user?.username ?? '(anonymous)',
    actorRole: request.user?.role ?? null,
    action: `${request.method} ${route ?? ''}`,
    method: request.method,
    route,
    target: targetOf(request),
    status,
    outcome,
    ip: request.ip,
    requestId: request.id,
  };
}

/**
 * Every change that succeeded, written before the answer leaves (so a client that saw its
 * 2xx finds the entry). Auth routes write their own entries (logins, lockouts, reuse), which
 * say more than a route and status. A failed write is logged and the answer still sent: the
 * change it records has happened.
 */
export function registerAudit(app: FastifyInstance, write: AuditWriter): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const route = request.routeOptions.url;
    if (READS.has(request.method) || route === undefined || route.startsWith('/v1/auth/') || !request.user) return payload;
    if (reply.statusCode >= 400) return payload;
    await write(auditEntry(request, reply.statusCode, 'ok'));
    return payload;
  });
}
