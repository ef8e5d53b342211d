import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { liveNodes, publishEvent, readRuntimeSettings, updateRuntimeSettings } from '@postbus/bus';
import { AccountId, DEFAULT_RUNTIME_SETTINGS, MOVE_REFUSED, PostbusError, RuntimeSettingsPatch, UNASSIGNED, type MailEvent } from '@postbus/contracts';
import { currentLeader, listAlerts, readAssignments, sql, unassignQueued, withDatabase } from '@postbus/db';
import { LIMITS, type AdminDeps } from '../deps.js';
import { Problem } from '../http/problem.js';
import { AlertList, AlertQuery, IdParam, LifecycleChange, MoveResult, NodesView, PlacementView, RuntimeSettingsView } from '../http/schemas.js';

export interface OperationsRoutesOptions {
  readonly deps: AdminDeps;
  readonly clock: () => Date;
}

const errors = { 400: Problem, 401: Problem, 404: Problem, 409: Problem, 413: Problem, 415: Problem, 422: Problem, 503: Problem };
const notFound = () => new PostbusError('account_not_found', 'no such account', { status: 404 });
const iso = (d: Date | null | undefined) => (d && Number.isFinite(d.getTime()) ? d.toISOString() : null);

/** Where accounts are worked, moving a stopped account's mail, and the alerts that paged someone. */
export const operationsRoutes: FastifyPluginAsyncTypebox<OperationsRoutesOptions> = async (app, { deps, clock }) => {
  const { bus, db, directory } = deps;

  /**
   * A person's decision to send a stopped account's queued mail through other accounts.
   * Never for an active account, never mail in `uncertain` (the server may have it), never
   * away from an account stopped by its provider, its bounces or its complaints.
   */
  app.post(
    '/accounts/:id/move-queued',
    {
      bodyLimit: LIMITS.smallBodyBytes,
      schema: { tags: ['accounts'], summary: "Move a stopped account's queued mail to other accounts", params: IdParam(AccountId), body: LifecycleChange, response: { 200: MoveResult, ...errors } },
    },
    async (request) => {
      await directory.sync();
      const account = directory.get(request.params.id);
      if (!account) throw notFound();
      if (account.status === 'active') throw new PostbusError('account_active', 'the account is active: pause it before moving its mail', { status: 409 });
      if (MOVE_REFUSED.includes(account.status)) {
        throw new PostbusError('move_refused', `mail may not leave an account that is ${account.status}: its provider or its recipients stopped it`, { status: 409 });
      }
      const now = clock();
      const { moved, keptPinned, uncertain } = await withDatabase(() =>
        db.tx(async (tx) => {
          const moved = await unassignQueued(tx, account.id, now);
          const [counts] = await tx.query(sql`
            SELECT count(*) FILTER (WHERE state IN ('assigned', 'retry_wait') AND pinned_account_id IS NOT NULL)::int AS pinned,
                   count(*) FILTER (WHERE state = 'uncertain')::int AS uncertain
            FROM deliveries WHERE account_id = ${account.id}`);
          return { moved, keptPinned: counts!.pinned as number, uncertain: counts!.uncertain as number };
        }),
      );
      // The rows wait for the dispatcher, which gives them to accounts with room (a new
      // assignment: new work item ids); the events say so in the log.
      await Promise.all(
        moved.map((m) => {
          const event: MailEvent = {
            id: `${m.messageId}.${m.assignment}.moved`,
            type: 'EmailWaiting',
            version: 1,
            occurredAt: now.toISOString(),
            messageId: m.messageId,
            data: { ...m.waiting, reason: `moved_by_admin from ${account.id}: ${request.body.reason}`.slice(0, 200) },
          };
          return publishEvent(bus, bus.subjects.mail(UNASSIGNED, 'waiting'), event);
        }),
      );
      request.log.info({ accountId: account.id, moved: moved.length, actor: request.principal }, 'queued mail moved off a stopped account');
      return { accountId: account.id, moved: moved.length, keptPinned, uncertain };
    },
  );

  app.get(
    '/accounts/:id/placement',
    { schema: { tags: ['accounts'], summary: 'Where an account is worked, and why it is in its state', params: IdParam(AccountId), response: { 200: PlacementView, ...errors } } },
    async (request) => {
      await directory.sync();
      const account = directory.get(request.params.id);
      if (!account) throw notFound();
      const [a] = [...(await withDatabase(() => readAssignments(db, [account.id]))).values()];
      const live = new Set((await liveNodes(bus)).map((n) => n.nodeId));
      return {
        accountId: account.id,
        status: account.status,
        statusReason: account.statusReason,
        statusActor: account.statusActor,
        statusSince: account.statusSince,
        pausedUntil: account.pausedUntil,
        nodeId: a?.nodeId ?? null,
        nodeLive: a?.nodeId ? live.has(a.nodeId) : false,
        epoch: a ? a.epoch : null,
        leaderEpoch: a ? a.leaderEpoch : null,
        placedAt: iso(a?.assignedAt),
        placementReason: a?.reason ?? null,
        previous: a && a.prevNodeId ? { nodeId: a.prevNodeId, epoch: a.prevEpoch, released: a.prevReleased } : null,
        startAfter: a && Number.isFinite(a.startAfter?.getTime?.()) ? a.startAfter.toISOString() : null,
      };
    },
  );

  app.get('/nodes', { schema: { tags: ['nodes'], summary: 'Sender nodes, their accounts and epochs', response: { 200: NodesView, ...errors } } }, async () => {
    const nodes = await liveNodes(bus);
    const assignments = await withDatabase(() => readAssignments(db));
    const leader = await withDatabase(() => currentLeader(db));
    const byNode = new Map<string, Array<{ accountId: string; epoch: number }>>();
    let orphaned = 0;
    const live = new Set(nodes.map((n) => n.nodeId));
    for (const a of assignments.values()) {
      if (!a.nodeId) continue;
      if (!live.has(a.nodeId)) orphaned++;
      byNode.set(a.nodeId, [...(byNode.get(a.nodeId) ?? []), { accountId: a.accountId, epoch: a.epoch }]);
    }
    return {
      leader: { holder: leader.holder, epoch: leader.epoch, live: leader.live },
      nodes: nodes
        .sort((x, y) => x.nodeId.localeCompare(y.nodeId))
        .map((n) => ({
          nodeId: n.nodeId,
          capacity: n.capacity,
          running: n.accounts,
          placed: byNode.get(n.nodeId)?.length ?? 0,
          accounts: (byNode.get(n.nodeId) ?? []).sort((x, y) => x.accountId.localeCompare(y.accountId)),
          startedAt: n.startedAt,
          renewedAt: n.renewedAt,
        })),
      orphaned,
    };
  });

  app.get('/alerts', { schema: { tags: ['alerts'], summary: 'Alerts, newest first', querystring: AlertQuery, response: { 200: AlertList, ...errors } } }, async (request) => {
    const limit = Number(request.query.limit ?? 50);
    const rows = await withDatabase(() =>
      listAlerts(db, { limit: limit + 1, ...(request.query.before ? { before: request.query.before } : {}), ...(request.query.accountId ? { accountId: request.query.accountId } : {}) }),
    );
    const page = rows.slice(0, limit);
    return {
      alerts: page.map((a) => ({
        id: a.id,
        kind: a.kind,
        severity: a.severity,
        summary: a.summary,
        accountId: a.accountId,
        details: a.details,
        firstAt: a.firstAt.toISOString(),
        lastAt: a.lastAt.toISOString(),
        occurrences: a.occurrences,
        notifiedAt: iso(a.notifiedAt),
      })),
      next: rows.length > limit ? page[page.length - 1]!.id : null,
    };
  });

  /** Platform-wide runtime settings (KV, watched by the services): what is set, and the defaults under it. */
  app.get('/config', { schema: { tags: ['config'], summary: 'Runtime settings', response: { 200: RuntimeSettingsView, ...errors } } }, async () => {
    const { stored, revision } = await readRuntimeSettings(bus);
    return { settings: { ...DEFAULT_RUNTIME_SETTINGS, ...stored }, stored, revision };
  });

  app.patch(
    '/config',
    { bodyLimit: LIMITS.smallBodyBytes, schema: { tags: ['config'], summary: 'Change runtime settings (take effect without restarts)', body: RuntimeSettingsPatch, response: { 200: RuntimeSettingsView, ...errors } } },
    async (request) => {
      const { stored, revision } = await updateRuntimeSettings(bus, request.body);
      request.log.info({ actor: request.principal, changes: request.body, revision }, 'runtime settings changed');
      return { settings: { ...DEFAULT_RUNTIME_SETTINGS, ...stored }, stored, revision };
    },
  );
};
