import { hostname } from 'node:os';
import { checkConnection, connect } from '../db/connect.js';
import { databaseTarget, type DatabaseFlags } from './database.js';

/**
 * The liveness probe: exits 0 only if an engine on this host (optionally: with this pid)
 * heartbeated within `supervisor.reaper_timeout`, judged by the database clock. It loads only
 * the configuration and the driver, so it answers in about the time Node takes to start.
 */
export async function healthCommand(options: DatabaseFlags & { pid?: string }): Promise<number> {
  const target = await databaseTarget(options);
  const { config } = target;
  const sql = connect({ url: target.url, schema: target.schema, max: 1, applicationName: 'ductwork-health', idleTimeout: 1 });
  try {
    await checkConnection(sql, target.url);
    const pid = options.pid === undefined ? null : Number(options.pid);
    const rows = await sql`
      select pid, role, last_heartbeat_at,
             last_heartbeat_at > clock_timestamp() - make_interval(secs => ${config.supervisor.reaper_timeout}) as healthy
      from processes where host = ${hostname()} ${pid === null ? sql`` : sql`and pid = ${pid}`}
      order by last_heartbeat_at desc`.catch(async (error: unknown) => {
      // No processes table: say which command creates it rather than "relation does not exist".
      if ((error as { code?: string }).code === '42P01') await (await import('../db/migrate.js')).assertMigrated(sql, target.schema);
      throw error;
    });
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
    await target.release();
  }
}
