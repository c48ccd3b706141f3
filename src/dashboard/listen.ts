/**
 * `listenDashboard`: the dashboard on a server of its own (what `ductwork dashboard` runs). It
 * binds to 127.0.0.1 by default and refuses any other address unless authentication is set.
 */
import { lookup } from 'node:dns/promises';
import { createServer, type Server } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { ConfigError } from '../errors.js';
import { hasAuthentication, isLoopbackAddress } from './access.js';
import { createDashboard, type DashboardOptions } from './handler.js';

/** Options of {@link listenDashboard}: the dashboard's, plus where to listen. */
export interface DashboardServerOptions extends DashboardOptions {
  /** Address to bind (default `127.0.0.1`). Anything but loopback needs `auth` or `basicAuth`. */
  host?: string;
  /** Port (default 4000; 0 picks a free one). */
  port?: number;
}

/** A running dashboard server. */
export interface DashboardServer {
  server: Server;
  /** Where it answers, e.g. `http://127.0.0.1:4000/`. */
  url: string;
  /** Stops accepting connections, ends open ones and closes the dashboard's pool. */
  close(): Promise<void>;
}

/** Whether `host` names only loopback addresses (`localhost`, 127.x, ::1). */
async function onlyLoopback(host: string): Promise<boolean> {
  if (isIP(host)) return isLoopbackAddress(host);
  try {
    const addresses = await lookup(host, { all: true });
    return addresses.length > 0 && addresses.every((a) => isLoopbackAddress(a.address));
  } catch {
    return false;
  }
}

/**
 * Serves the dashboard on `host:port`. Throws `ConfigError` `dashboard_auth_required` before
 * binding when the host is not loopback and neither `auth` nor `basicAuth` is given.
 */
export async function listenDashboard(options: DashboardServerOptions = {}): Promise<DashboardServer> {
  const { host: given = '127.0.0.1', port = 4000, ...dashboardOptions } = options;
  const host = given.replace(/^\[(.*)\]$/, '$1'); // [::1] as in a URL
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError('config_invalid', `dashboard port: ${String(port)} is not a port number (0 to 65535).`, { details: { key: 'port' } });
  }
  if (!hasAuthentication(dashboardOptions) && !(await onlyLoopback(host))) {
    throw new ConfigError(
      'dashboard_auth_required',
      `Refusing to serve the Ductwork dashboard on ${host}: that is not a loopback address and no authentication is configured. ` +
        'Set dashboard.username and dashboard.password in the configuration (or DUCTWORK_DASHBOARD_PASSWORD), pass `auth` or `basicAuth` to listenDashboard, ' +
        'or keep the default --host 127.0.0.1 and reach it through an SSH tunnel or an authenticating proxy.',
      { details: { key: 'dashboard', host } },
    );
  }
  const dashboard = createDashboard(dashboardOptions);
  const server = createServer((req, res) => void dashboard(req, res));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await dashboard.close();
    throw new ConfigError('config_invalid', `Cannot serve the dashboard on ${host}:${port}: ${(error as Error).message}.`, { cause: error, details: { key: 'port', host, port } });
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${shownHost}:${address.port}${(dashboardOptions.basePath ?? '').replace(/\/+$/, '')}/`,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await dashboard.close();
    },
  };
}
