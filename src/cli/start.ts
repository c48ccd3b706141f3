import { loadConfig, type ConfigFlags } from '../config/load.js';
import { createLogger } from '../log.js';
import { Engine } from '../runtime/engine.js';
import { connect } from '../db/connect.js';
import { migrate } from '../db/migrate.js';

/** Options of `ductwork start`. */
export interface StartCommandOptions {
  config?: string;
  threaded?: boolean;
  forking?: boolean;
  role?: string;
  pipelines?: string;
  embedded?: boolean;
}

/**
 * Runs the engine in this process until SIGINT or SIGTERM, then stops it gracefully (running
 * steps get `job_worker.shutdown_timeout`) and exits 0. A second signal exits at once.
 */
let embeddedStop: (() => Promise<void>) | undefined;

export async function startCommand(options: StartCommandOptions): Promise<void> {
  const flags: ConfigFlags = {};
  if (options.role !== undefined) flags.role = options.role;
  if (options.pipelines !== undefined) flags.pipelines = options.pipelines;
  if (options.threaded) flags.forking = 'none';
  else if (options.forking) flags.forking = 'default';
  const { config, file } = loadConfig({ ...(options.config === undefined ? {} : { file: options.config }), flags });
  const log = createLogger(config.logger.level, 'ductwork', config.logger.format);
  if (options.embedded && !config.database.url) {
    const { startEmbeddedPostgres } = await import('../db/embedded.js');
    const database = await startEmbeddedPostgres();
    log.warn(`No database configured: using an embedded development PostgreSQL (data in ${database.dataDir}). Production uses DATABASE_URL.`);
    config.database.url = database.url;
    process.env.DATABASE_URL = database.url; // forked children find it there
    const sql = connect({ url: database.url, schema: config.database.schema, max: 1 });
    await migrate(sql, config.database.schema);
    await sql.end();
    process.once('exit', () => void database.stop());
    embeddedStop = () => database.stop();
  } else if (options.embedded) {
    log.info('--embedded ignored: a database is configured');
  }
  if (config.forking === 'default') {
    const { runForkingSupervisor } = await import('./forking-supervisor.js');
    await runForkingSupervisor(config, options, log);
    return;
  }
  const engine = new Engine(config, log);
  // Handlers go in before the engine starts: a signal during start must not hit Node's defaults
  // (TTIN would suspend the process, TERM would kill it without draining).
  let stopping = false;
  let started = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    log.info(`${signal} received: stopping gracefully`);
    engine.stop().then(
      async () => {
        await embeddedStop?.();
        process.exit(0);
      },
      (error: unknown) => {
        log.error('Stop failed', { error: (error as Error).message });
        process.exit(1);
      },
    );
  };
  // TTIN prints what every loop and thread is doing; Windows has no TTIN, so Ctrl+Break (SIGBREAK) does it there.
  const dump = () => {
    if (!started) return void process.stdout.write('ductwork thread dump: the engine is still starting\n');
    void engine.dumpThreads().then((text) => process.stdout.write(text), (error: unknown) => log.error('Thread dump failed', { error: (error as Error).message }));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on(process.platform === 'win32' ? 'SIGBREAK' : 'SIGTTIN', dump);
  await engine.start();
  started = true;
  log.info(`Running (threaded) with ${file ?? 'default configuration'}; send SIGTERM or SIGINT to stop`, { pid: process.pid });
}
