import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from '@postbus/db';
import { natsAnswers, registerHealthRoutes } from '@postbus/telemetry';
import type { TrackingDeps } from '../deps.js';

/**
 * Liveness, and readiness: NATS answers a ping and Postgres `SELECT 1`. Opens and clicks would
 * still be answered without either (they are only not recorded), unsubscribes would get 503.
 */
export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: TrackingDeps }> = async (app, { deps }) => {
  registerHealthRoutes(app, { metricsToken: deps.metricsToken, checks: { nats: natsAnswers(deps.bus.nc), postgres: () => deps.db.query(sql`SELECT 1`) } });
};
