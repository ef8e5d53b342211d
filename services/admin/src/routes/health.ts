import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from '@postbus/db';
import { natsAnswers, registerHealthRoutes } from '@postbus/telemetry';
import type { AdminDeps } from '../deps.js';
import { Problem, problem, sendProblem } from '../http/problem.js';

/** Liveness and readiness, both public. Readiness: NATS connected (a ping answers) and Postgres answers `SELECT 1`. */
export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: AdminDeps }> = async (app, { deps }) => {
  registerHealthRoutes(app, {
    metricsToken: deps.metricsToken,
    schema: { tags: ['health'], security: [] },
    checks: { nats: natsAnswers(deps.bus.nc), postgres: () => deps.db.query(sql`SELECT 1`) },
    notReady: { schema: Problem, send: (reply, failing) => sendProblem(reply, problem(503, 'not_ready', `not ready: ${failing.join(', ')} unavailable`)) },
  });
};
