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
    for (const w of report.waiting) {
      const until = w.until ? ` until ${w.until.toISOString()}` : '';
      out(w.kind === 'event' ? `  waiting for "${w.event}" after ${w.step}${until || ' (no timeout)'}` : `  waiting${until} (${w.kind}: ${w.step})`);
    }
    if (report.status === 'cancelled') out(`  cancelled${report.cancelReason ? `: ${report.cancelReason}` : ''}`);
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

/** `ductwork cancel <id> [--reason R]`. */
export function cancelCommand(id: string, options: DatabaseFlags & { reason?: string }): Promise<void> {
  return withClient(options, async (client) => {
    const report = await client.cancel(id, options.reason === undefined ? {} : { reason: String(options.reason) });
    out(`Cancelled ${id} (${report.pipeline})${report.abortedSteps ? `; ${report.abortedSteps} running step(s) told to stop` : ''}.`);
  });
}

/** `ductwork signal <id|key> <event> [JSON] [--pipeline P] [--key K]`. */
export function signalCommand(target: string, event: string, payload: string | undefined, options: DatabaseFlags & { pipeline?: string; key?: string }): Promise<void> {
  let value: unknown = null;
  if (payload !== undefined) {
    try {
      value = JSON.parse(payload);
    } catch (error) {
      throw new DuctworkError('signal_invalid', `The payload of signal "${event}" is not valid JSON: ${(error as Error).message}.`);
    }
  }
  return withClient(options, async (client) => {
    const to = options.pipeline === undefined ? target : { pipeline: String(options.pipeline), key: target };
    const receipt = await client.signal(to, event, value, options.key === undefined ? {} : { key: String(options.key) });
    out(`${receipt.outcome}: "${event}" to ${receipt.pipelineId}`);
  });
}

/** `ductwork schedules [--json]`: every stored schedule with its next and last tick. */
export function schedulesCommand(options: DatabaseFlags & { json?: boolean }): Promise<void> {
  return withClient(options, async (client) => {
    const schedules = await client.schedules();
    if (options.json) return out(JSON.stringify(schedules, null, 2));
    if (schedules.length === 0) return out('No schedules (declare `static schedules` on a pipeline class and start an engine that runs it).');
    for (const s of schedules) {
      out(`${s.pipeline} ${s.name}: "${s.cron}" ${s.timezone}, missed ${s.missed}; next ${s.nextTickAt.toISOString()}` +
        (s.lastTickAt ? `, last ${s.lastTickAt.toISOString()} (${s.lastPipelineId})` : ''));
    }
  });
}

/**
 * `ductwork check`: loads the app module of this build and lists the work in the database it
 * could not continue. Exit code 1 when there is some, so a deploy script can stop.
 */
export async function checkCommand(options: DatabaseFlags & { json?: boolean }): Promise<void> {
  const { config } = commandConfig(options);
  const app = await loadAppModule(config.app);
  await withClient(options, async (client) => {
    const stranded = await client.strandedWork(app.pipelines.map((p) => ({ name: p.name, definition: p.definition })));
    if (options.json) out(JSON.stringify(stranded, null, 2));
    else if (stranded.length === 0) out(`OK: this build (${app.pipelines.length} pipelines) can continue every run in flight, waiting and scheduled.`);
    else {
      for (const s of stranded) {
        out(s.problem === 'schedule_orphaned'
          ? `${s.pipeline}: has stored schedules but this build has no such pipeline; they would never fire`
          : s.problem === 'pipeline_missing'
            ? `${s.pipeline}: ${s.runs} run(s) in flight (${s.waiting} waiting, ${s.delayed} delayed) but this build has no such pipeline`
            : `${s.pipeline} (definition ${s.definition.slice(0, 12)}): ${s.runs} run(s) in flight (${s.waiting} waiting, ${s.delayed} delayed) need steps this build lacks: ${s.missingSteps.join(', ')}`);
      }
    }
    if (stranded.length > 0) process.exitCode = 1;
  });
}

/** `ductwork trigger <Pipeline> <JSON>`: the pipeline comes from the app module; prints the new id. */
export async function triggerCommand(name: string, input: string | undefined, options: DatabaseFlags & { key?: string; delay?: string }): Promise<void> {
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
    const handle = await client.trigger({ name, definition: found.definition }, value, {
      ...(options.key === undefined ? {} : { key: String(options.key) }), ...(options.delay === undefined ? {} : { delay: String(options.delay) }),
    });
    out(handle.id);
  });
}
