import { listenDashboard, type DashboardServer } from '../dashboard/listen.js';
import { checkConnection, redactUrl } from '../db/connect.js';
import { DuctworkClient } from '../client/client.js';
import type { DuctworkConfig } from '../config/config.js';
import { assertMigrated } from '../db/migrate.js';
import { ConfigError } from '../errors.js';
import { databaseTarget, type DatabaseFlags } from './database.js';
import type { MetricsSource } from '../observe/metrics-handler.js';

/** Flags of `ductwork dashboard` (and the dashboard half of `ductwork dev`). */
export interface DashboardCommandOptions extends DatabaseFlags {
  host?: string;
  port?: string | number;
  basePath?: string;
  /** Honour X-Forwarded-For / X-Forwarded-Host from a reverse proxy in front of the dashboard. */
  trustProxy?: boolean;
}

/**
 * Serves the dashboard until SIGINT/SIGTERM, on the database every command uses (flag, then
 * environment, then file). Basic-auth credentials come from the file's `dashboard:` section (the
 * password may be in DUCTWORK_DASHBOARD_PASSWORD instead).
 */
export async function dashboardCommand(options: DashboardCommandOptions): Promise<void> {
  const target = await databaseTarget(options, {}, (line) => process.stderr.write(`${line}\n`));
  const client = new DuctworkClient({ databaseUrl: target.url, schema: target.schema, poolSize: 4 });
  let server: DashboardServer;
  try {
    await checkConnection(client.sql, target.url);
    await assertMigrated(client.sql, target.schema);
    server = await serveDashboard(client, target.config, target.file, options);
  } catch (error) {
    await client.close();
    await target.release();
    throw error;
  }
  const shownUrl = target.embedded ? target.url : redactUrl(target.url);
  const auth = target.config.dashboard.username ? `, basic auth as ${target.config.dashboard.username}` : ', loopback only';
  process.stdout.write(`Ductwork dashboard on ${server.url} (${shownUrl}, schema "${target.schema}"${auth})\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await server.close();
  await client.close();
  await target.release();
}

/** Listens with the command's host, port, base path and the configuration's credentials. */
export async function serveDashboard(
  client: DuctworkClient, config: DuctworkConfig, file: string | undefined, options: DashboardCommandOptions, metrics?: MetricsSource,
): Promise<DashboardServer> {
  const port = Number(options.port ?? 4000);
  if (!/^\d{1,5}$/.test(String(options.port ?? 4000)) || port > 65535) {
    throw new ConfigError('config_invalid', `--port: ${JSON.stringify(String(options.port))} is not a port number (0 to 65535).`, { details: { key: 'port' } });
  }
  const username = config.dashboard.username;
  const password = config.dashboard.password ?? (process.env.DUCTWORK_DASHBOARD_PASSWORD || undefined);
  if ((username === undefined) !== (password === undefined)) {
    throw new ConfigError(
      'config_invalid',
      `${file ?? 'configuration'}: dashboard.username and dashboard.password go together (set both, or neither for a loopback-only dashboard).`,
      { details: { key: username === undefined ? 'dashboard.username' : 'dashboard.password' } },
    );
  }
  return listenDashboard({
    client, port, host: options.host ?? '127.0.0.1', ...(metrics ? { metrics } : {}),
    ...(options.basePath ? { basePath: options.basePath } : {}),
    ...(options.trustProxy ? { trustProxy: true } : {}),
    ...(username !== undefined && password !== undefined ? { basicAuth: { username, password } } : {}),
  });
}
