import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DuctworkConfig } from '../config/config.js';
import { checkConnection, connect } from '../db/connect.js';
import { uuidv7 } from '../db/ids.js';
import type { Logger } from '../log.js';
import { loadAppModule, selectPipelines } from '../runtime/app-module.js';
import { ProcessLiveness } from '../runtime/liveness.js';
import type { StartCommandOptions } from './start.js';

const CLI = fileURLToPath(new URL('./main.js', import.meta.url));

interface ChildSpec {
  name: string;
  args: string[];
}

/**
 * Forking mode: one advancer process for every pipeline and one job worker process per pipeline,
 * each the same engine started with `--threaded --role ...`. A child that exits is restarted at
 * once, then with growing delays if it keeps dying. SIGINT/SIGTERM is forwarded to the children;
 * after `supervisor.shutdown_timeout` the stragglers are SIGKILLed (their steps are re-enqueued by
 * the other engines' reapers, or the next start).
 */
export async function runForkingSupervisor(config: DuctworkConfig, options: StartCommandOptions, log: Logger): Promise<void> {
  const url = config.database.url;
  if (!url) throw new Error('database.url is not set and DATABASE_URL is empty');
  const app = await loadAppModule(config.app);
  const pipelines = selectPipelines(app, config.pipelines).map((p) => p.name);
  const common = [...(options.config ? ['-c', options.config] : []), '--threaded'];
  const specs: ChildSpec[] = [];
  if (config.role !== 'worker') specs.push({ name: 'pipeline_advancer', args: [...common, '--role', 'advancer', '--pipelines', pipelines.join(',')] });
  if (config.role !== 'advancer') {
    for (const p of pipelines) specs.push({ name: `job_worker.${p}`, args: [...common, '--role', 'worker', '--pipelines', p] });
  }

  const sql = connect({ url, schema: config.database.schema, max: 2, applicationName: 'ductwork-supervisor' });
  await checkConnection(sql, url);
  const liveness = new ProcessLiveness({
    url, schema: config.database.schema, processId: uuidv7(), role: 'supervisor', log: log.child('supervisor'),
    intervalSeconds: config.supervisor.polling_timeout,
  });
  await liveness.start();

  let stopping = false;
  const children = new Map<ChildSpec, ChildProcess>();
  const failures = new Map<ChildSpec, number>();
  const launch = (spec: ChildSpec) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, 'start', ...spec.args], { stdio: 'inherit', env: process.env });
    children.set(spec, child);
    log.info(`Started ${spec.name}`, { pid: child.pid });
    child.once('exit', (code, signal) => {
      children.delete(spec);
      if (stopping) return;
      // A child that ran a while restarts at once; one that keeps dying waits longer each time.
      const count = performance.now() - started > 60_000 ? 0 : (failures.get(spec) ?? 0) + 1;
      failures.set(spec, count);
      const delay = count <= 1 ? 0 : Math.min(30_000, 500 * 2 ** (count - 2));
      log.warn(`${spec.name} exited (${signal ?? code}); restarting${delay ? ` in ${delay} ms` : ''}`, { pid: child.pid });
      setTimeout(() => !stopping && launch(spec), delay);
    });
  };
  for (const spec of specs) launch(spec);

  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn(`${signal} again: killing children now`);
      for (const child of children.values()) child.kill('SIGKILL');
      process.exit(1);
    }
    stopping = true;
    log.info(`${signal} received: stopping ${children.size} children`);
    const exits = [...children.values()].map((child) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()))));
    for (const child of children.values()) child.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const child of children.values()) {
        log.warn('Child still running after supervisor.shutdown_timeout: SIGKILL', { pid: child.pid });
        child.kill('SIGKILL');
      }
    }, config.supervisor.shutdown_timeout * 1000);
    await Promise.all(exits);
    clearTimeout(timer);
    await liveness.stop();
    await sql.end({ timeout: 2 });
    log.info('Supervisor stopped');
    process.exit(0);
  };
  process.on('SIGINT', (s) => void shutdown(s));
  process.on('SIGTERM', (s) => void shutdown(s));
  if (process.platform !== 'win32') {
    process.on('SIGTTIN', () => {
      process.stdout.write(`ductwork supervisor ${process.pid}: forwarding TTIN to ${children.size} children\n`);
      for (const child of children.values()) child.kill('SIGTTIN');
    });
  }
}
