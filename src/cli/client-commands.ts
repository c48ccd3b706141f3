import { connect, checkConnection, redactUrl } from '../db/connect.js';
import { loadMigrations, migrate } from '../db/migrate.js';
import { keepTimes } from '../config/retention.js';
import { DuctworkError } from '../errors.js';
import { loadAppModule } from '../runtime/app-module.js';
import { commandConfig, databaseTarget, withClient, type DatabaseFlags } from './database.js';

const out = (line: string): void => void process.stdout.write(`${line}\n`);

/** `ductwork migrate`: creates or upgrades the schema, or prints the SQL with `--dry-run`. */
export async function migrateCommand(options: DatabaseFlags & { dryRun?: boolean; to?: string }): Promise<void> {
  if (options.dryRun) {
    const { config } = commandConfig(options);
    for (const m of loadMigrations(config.database.schema)) out(`-- ${m.name}\n${m.sql}`);
    return;
  }
  const target = await databaseTarget(options, {}, (line) => process.stderr.write(`${line}\n`));
  const sql = connect({ url: target.url, schema: target.schema, max: 1, applicationName: 'ductwork-migrate' });
  try {
    await checkConnection(sql, target.url);
    const applied = await migrate(sql, target.schema, { ...(options.to === undefined ? {} : { to: options.to }), log: out });
    out(applied.length ? `Migrated ${redactUrl(target.url)} schema "${target.schema}" (${applied.length} applied).` : `Schema "${target.schema}" is up to date.`);
  } finally {
    await sql.end({ timeout: 5 });
    await target.release();
  }
}

/** `ductwork status [id]`: one pipeline's report, or the counts and the latest pipelines. */
export function statusCommand(id: string | undefined, options: DatabaseFlags & { json?: boolean }): Promise<void> {
  return withClient(options, async (client) => {
    if (id === undefined) {
      const overview = await client.overview();
      if (options.json) return out(JSON.stringify(overview, null, 2));
      out(`pipelines: ${Object.entries(overview.counts).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`);
      for (const p of overview.latest) out(`  ${p.id} ${p.pipeline} ${p.status} ${p.createdAt.toISOString()}`);
      return;
    }
    const report = await client.status(id);
    if (options.json) return out(JSON.stringify(report, null, 2));
    const steps = Object.entries(report.steps).map(([k, n]) => `${k} ${n}`).join(', ');
    out(`${report.pipeline} ${report.id}: ${report.status}\n  run ${report.runId}, steps: ${steps}`);
    for (const halt of report.halts) out(`  halted branch ${halt.branchId}: ${halt.reason}${halt.detail ? ` (${halt.detail})` : ''}`);
    if (report.status === 'completed') out(`  output: ${JSON.stringify(report.output)}`);
  });
}

/** `ductwork prune [--older-than D] [--dry-run]`: the retention cleaner's work, on demand, with progress. */
export function pruneCommand(options: DatabaseFlags & { olderThan?: string; dryRun?: boolean }): Promise<void> {
  const { config } = commandConfig(options);
  return withClient(options, async (client) => {
    const report = await client.prune({
      ...(options.olderThan === undefined ? { keep: keepTimes(config) } : { olderThan: /^\d+(\.\d+)?$/.test(options.olderThan) ? Number(options.olderThan) : options.olderThan }),
      dryRun: options.dryRun === true,
      batchSize: config.retention.batch_size,
      onProgress: (so) => !so.dryRun && process.stderr.write(`deleted ${so.pipelines} pipelines so far\n`),
    });
    out(report.dryRun
      ? `Would delete ${report.pipelines} pipelines (${report.steps} steps); nothing was deleted.`
      : `Deleted ${report.pipelines} pipelines.`);
  });
}

/** `ductwork revive <id>`. */
export function reviveCommand(id: string, options: DatabaseFlags & { context?: boolean }): Promise<void> {
  return withClient(options, async (client) => {
    await client.revive(id, { duplicateContext: options.context !== false });
    out(`Revived ${id}: a new run is in progress.`);
  });
}

/** `ductwork trigger <Pipeline> <JSON>`: the pipeline comes from the app module; prints the new id. */
export async function triggerCommand(name: string, input: string | undefined, options: DatabaseFlags): Promise<void> {
  const { config } = commandConfig(options);
  if (input === undefined) {
    throw new DuctworkError(
      'trigger_input_not_json',
      `trigger ${name}: no input. Pass the pipeline's input as JSON after its name, e.g. \`ductwork trigger ${name} '{"team":"core"}'\` (\`null\` for none).`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(input);
  } catch (error) {
    throw new DuctworkError('trigger_input_not_json', `The input of ${name} is not valid JSON: ${(error as Error).message}.`);
  }
  const app = await loadAppModule(config.app);
  const found = app.pipelines.find((p) => p.name === name);
  if (!found) throw new DuctworkError('unknown_pipeline', `Unknown pipeline "${name}" (the app module exports: ${app.pipelines.map((p) => p.name).join(', ')}).`);
  await withClient(options, async (client) => {
    const handle = await client.trigger({ name, definition: found.definition }, value);
    out(handle.id);
  });
}
