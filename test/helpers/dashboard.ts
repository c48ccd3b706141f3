/** The set-up the dashboard tests share: an engine on the dashboard fixture app and a dashboard server. */
import { after } from 'node:test';
import type { DuctworkClient } from '../../src/client/client.js';
import { listenDashboard, type DashboardServer, type DashboardServerOptions } from '../../src/dashboard/listen.js';
import type { StartOptions } from '../../src/runtime/engine.js';
import type { TestSchema } from './db.js';
import { testEngine } from './engine.js';

/** The app module with pipelines in every state (compiled path). */
export const DASHBOARD_APP = new URL('../fixtures/dashboard-pipelines.js', import.meta.url).href;

/** An engine on a fresh schema running the dashboard fixtures; gates halt at once (max_retry 0). */
export function dashboardEngine(metaUrl: string, options: StartOptions = {}) {
  return testEngine(metaUrl, { app: DASHBOARD_APP, ...options, job_worker: { max_retry: 0, ...options.job_worker } });
}

/** A dashboard server on a free loopback port for this test file, closed after it. */
export async function serveDashboard(client: DuctworkClient, options: DashboardServerOptions = {}): Promise<DashboardServer> {
  const server = await listenDashboard({ client, port: 0, liveIntervalMs: 300, ...options });
  after(() => server.close());
  return server;
}

/** Opens a gate of the gate fixtures in the context of the pipeline's latest run (a revive carries it over). */
export async function openGate(db: TestSchema, pipelineId: string, gate: 'a' | 'b'): Promise<void> {
  await db.sql`
    insert into tuples (run_id, key, value)
    select id, ${`open_${gate}`}, 'true' from runs where pipeline_id = ${pipelineId} order by started_at desc limit 1`;
}
