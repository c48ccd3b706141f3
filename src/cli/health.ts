import { hostname } from 'node:os';
import { loadConfig } from '../config/load.js';
import { checkConnection, connect } from '../db/connect.js';
import { DuctworkError } from '../errors.js';

/**
 * The liveness probe: exits 0 only if an engine on this host (optionally: with this pid)
 * heartbeated within `supervisor.reaper_timeout`, judged by the database clock.
 */
export async function healthCommand(options: { config?: string; pid?: string; verbose?: boolean }): Promise<number> {
  const { config } = loadConfig(options.config === undefined ? {} : { file: options.config });
  const url = config.database.url;
  if (!url) throw new DuctworkError('config_invalid', 'No database: set database.url in the configuration or DATABASE_URL.');
  const sql = connect({ url, schema: config.database.schema, max: 1, applicationName: 'ductwork-health' });
  try {
    await checkConnection(sql, url);
    const pid = options.pid === undefined ? null : Number(options.pid);
    const rows = await sql`
      select pid, role, last_heartbeat_at,
             last_heartbeat_at > clock_timestamp() - make_interval(secs => ${config.supervisor.reaper_timeout}) as healthy
      from processes where host = ${hostname()} ${pid === null ? sql`` : sql`and pid = ${pid}`}
      order by last_heartbeat_at desc`;
    if (rows.length === 0) {
      process.stdout.write(`dead: no Ductwork engine registered on ${hostname()}${pid === null ? '' : ` with pid ${pid}`}\n`);
      return 1;
    }
    let unhealthy = 0;
    for (const row of rows) {
      if (!row.healthy) unhealthy++;
      process.stdout.write(`${row.healthy ? 'healthy' : 'unhealthy'}: pid ${row.pid} (${row.role}), last heartbeat ${(row.last_heartbeat_at as Date).toISOString()}\n`);
    }
    return unhealthy === rows.length ? 1 : 0;
  } finally {
    await sql.end({ timeout: 2 });
  }
}
