import { Engine } from '../runtime/engine.js';
import { serveDashboard, type DashboardCommandOptions } from './dashboard.js';
import { engineTarget, runUntilSignal, type StartCommandOptions } from './start.js';

/**
 * `ductwork dev`: the development loop without a PostgreSQL server. The engine and the dashboard
 * in one process, on the embedded database in `.ductwork/pg` (or the configured one, when there
 * is one), migrated on start; prints the dashboard's URL and how to trigger.
 */
export async function devCommand(options: StartCommandOptions & DashboardCommandOptions): Promise<void> {
  const { target, log } = await engineTarget({ ...options, embedded: true, threaded: true });
  const engine = new Engine(target.config, log);
  let close = async () => {};
  const signals = runUntilSignal(engine, log, () => close(), target.release);
  await engine.start();
  signals.started();
  const server = await serveDashboard(engine.client, target.config, target.file, options, engine.metrics);
  close = () => server.close();
  const database = target.embedded ? `${target.url} (embedded, data in ${target.embedded.dataDir})` : `from ${target.sources.url}`;
  const example = engine.pipelines[0] ?? 'Pipeline';
  const extra = target.embedded ? ' --embedded' : '';
  process.stdout.write(
    `\nDuctwork dev: running ${engine.pipelines.join(', ')} on schema "${target.schema}" of ${database}\n` +
      `  Dashboard:  ${server.url}\n` +
      `  Trigger:    npx ductwork trigger ${example} '<input JSON>'${extra}${target.schema === 'ductwork' ? '' : ` --schema ${target.schema}`}\n` +
      `  Stop:       Ctrl+C (drains running steps)\n\n`,
  );
}
