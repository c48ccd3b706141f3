import { loadConfig } from '../config/load.js';
import { listenDashboard } from '../dashboard/listen.js';
import { checkConnection, redactUrl } from '../db/connect.js';
import { DuctworkClient } from '../client/client.js';
import { ConfigError } from '../errors.js';

/** Flags of `ductwork dashboard`. */
export interface DashboardCommandOptions {
  config?: string;
  databaseUrl?: string;
  schema?: string;
  host?: string;
  port?: string | number;
  basePath?: string;
}

/**
 * Serves the dashboard until SIGINT/SIGTERM. The database comes from --database-url, else the
 * configuration file's database.url, else DATABASE_URL; the schema from --schema, else
 * DUCTWORK_SCHEMA, else the file. Basic-auth credentials come from the file's `dashboard:` section
 * (the password may be in DUCTWORK_DASHBOARD_PASSWORD instead).
 */
export async function dashboardCommand(options: DashboardCommandOptions): Promise<void> {
  const { config, file } = loadConfig(options.config === undefined ? {} : { file: options.config });
  const url = options.databaseUrl ?? config.database.url;
  if (!url) throw new ConfigError('config_invalid', 'No database: pass --database-url, set database.url in the configuration, or set DATABASE_URL.', { details: { key: 'database.url' } });
  const schema = options.schema ?? process.env.DUCTWORK_SCHEMA ?? config.database.schema;
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
  const client = new DuctworkClient({ databaseUrl: url, schema, poolSize: 4 });
  let server;
  try {
    await checkConnection(client.sql, url);
    server = await listenDashboard({
      client, port, host: options.host ?? '127.0.0.1',
      ...(options.basePath ? { basePath: options.basePath } : {}),
      ...(username !== undefined && password !== undefined ? { basicAuth: { username, password } } : {}),
    });
  } catch (error) {
    await client.close();
    throw error;
  }
  process.stdout.write(`Ductwork dashboard on ${server.url} (${redactUrl(url)}, schema "${schema}"${username ? `, basic auth as ${username}` : ', loopback only'})\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  await client.close();
}
