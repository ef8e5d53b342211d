import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from '@postbus/db';
import { natsAnswers, registerHealthRoutes } from '@postbus/telemetry';
import type { GatewayDeps } from '../deps.js';

/** Liveness, and readiness: NATS answers a ping and Postgres `SELECT 1` (leads need both). */
export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: GatewayDeps }> = async (app, { deps }) => {
  registerHealthRoutes(app, { metricsToken: deps.metricsToken, checks: { nats: natsAnswers(deps.bus.nc), postgres: () => deps.db.query(sql`SELECT 1`) } });
};
