import type { ConfigFlags } from '../config/load.js';
import { createLogger, type Logger } from '../log.js';
import { Engine } from '../runtime/engine.js';
import { connect } from '../db/connect.js';
import { migrate } from '../db/migrate.js';
import { databaseTarget, type DatabaseFlags, type DatabaseTarget } from './database.js';
import { ConfigError } from '../errors.js';
import { listenMetrics } from '../observe/metrics-handler.js';

/** Options of `ductwork start`. */
export interface StartCommandOptions extends DatabaseFlags {
  threaded?: boolean;
  forking?: boolean;
  role?: string;
  pipelines?: string;
  /** Serve Prometheus metrics on this port (`/metrics`). */
  metricsPort?: string | number;
  /** Address of the metrics server (default 127.0.0.1). */
  metricsHost?: string;
}

/** The configuration and database of `start` and `dev`; an embedded database is migrated here (there is no separate deploy step). */
export async function engineTarget(options: StartCommandOptions): Promise<{ target: DatabaseTarget; log: Logger }> {
  const flags: ConfigFlags = {};
  if (options.role !== undefined) flags.role = options.role;
  if (options.pipelines !== undefined) flags.pipelines = options.pipelines;
  if (options.threaded) flags.forking = 'none';
  else if (options.forking) flags.forking = 'default';
  const notes: string[] = [];
  const target = await databaseTarget(options, flags, (line) => notes.push(line));
  const { config } = target;
  const log = createLogger(config.logger.level, 'ductwork', config.logger.format);
  for (const line of notes) log.info(line);
  // Forked children and scripts started from here find the same database and schema, whatever chose them.
  process.env.DATABASE_URL = target.url;
  process.env.DUCTWORK_SCHEMA = target.schema;
  if (target.embedded) {
    // The development database's URL is printed whole: it is local, and its password is no secret.
    log.warn(`Using the embedded development PostgreSQL ${target.url} (data in ${target.embedded.dataDir}); production uses DATABASE_URL.`);
    const sql = connect({ url: target.url, schema: target.schema, max: 1 });
    try {
      await migrate(sql, target.schema);
    } finally {
      await sql.end();
    }
  }
  return { target, log };
}

/**
 * Runs the engine in this process until SIGINT or SIGTERM, then stops it gracefully (running
 * steps get `job_worker.shutdown_timeout`) and exits 0. A second signal exits at once.
 */
export async function startCommand(options: StartCommandOptions): Promise<void> {
  const { target, log } = await engineTarget(options);
  const { config, file } = target;
  const metricsPort = metricsPortOf(options);
  if (config.forking === 'default') {
    if (metricsPort !== undefined) {
      throw new ConfigError('config_invalid', '--metrics-port needs the threaded mode: each forked child counts its own work. Run one engine per container (--role) and scrape each.', {
        details: { key: 'metrics-port' },
      });
    }
    const { runForkingSupervisor } = await import('./forking-supervisor.js');
    await runForkingSupervisor(config, options, log);
    return;
  }
  const engine = new Engine(config, log);
  let closeMetrics = async () => {};
  const signals = runUntilSignal(engine, log, () => closeMetrics(), target.release);
  await engine.start();
  if (metricsPort !== undefined) {
    const server = await listenMetrics({ metrics: engine.metrics, port: metricsPort, ...(options.metricsHost ? { host: options.metricsHost } : {}) });
    closeMetrics = () => server.close();
    log.info(`Serving Prometheus metrics on ${server.url}`);
  }
  signals.started();
  log.info(`Running (threaded) with ${file ?? 'default configuration'}; send SIGTERM or SIGINT to stop`, { pid: process.pid });
}

/** `--metrics-port`, checked: a port number, or undefined when not given. */
function metricsPortOf(options: StartCommandOptions): number | undefined {
  if (options.metricsPort === undefined) return undefined;
  const text = String(options.metricsPort);
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new ConfigError('config_invalid', `--metrics-port: ${JSON.stringify(text)} is not a port number (0 to 65535).`, { details: { key: 'metrics-port' } });
  }
  return Number(text);
}

/**
 * Installs the signal handlers before the engine starts: a signal during start must not hit
 * Node's defaults (TTIN would suspend the process, TERM would kill it without draining). The
 * first SIGINT/SIGTERM drains and exits 0 (after `also`, e.g. closing a dashboard); a second exits 1.
 */
export function runUntilSignal(engine: Engine, log: Logger, ...also: (() => Promise<void>)[]): { started(): void } {
  let stopping = false;
  let running = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    log.info(`${signal} received: stopping gracefully`);
    engine.stop().then(
      async () => {
        for (const step of also) await step();
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
    if (!running) return void process.stdout.write('ductwork thread dump: the engine is still starting\n');
    void engine.dumpThreads().then((text) => process.stdout.write(text), (error: unknown) => log.error('Thread dump failed', { error: (error as Error).message }));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on(process.platform === 'win32' ? 'SIGBREAK' : 'SIGTTIN', dump);
  return { started: () => void (running = true) };
}
