#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { cac } from 'cac';
import { DuctworkClient } from '../client/client.js';
import { connect, checkConnection, redactUrl } from '../db/connect.js';
import { loadMigrations, migrate } from '../db/migrate.js';
import { DuctworkError } from '../errors.js';
import { nearest } from '../config/config.js';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../config/load.js';
import { loadAppModule } from '../runtime/app-module.js';
import { healthCommand } from './health.js';
import { startCommand, type StartCommandOptions } from './start.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
const cli = cac('ductwork');

cli
  .command('migrate', 'Create or upgrade the Ductwork schema (safe to run from many processes at once)')
  .option('--database-url <url>', 'PostgreSQL URL (default: DATABASE_URL)')
  .option('--schema <name>', 'Schema name', { default: process.env.DUCTWORK_SCHEMA ?? 'ductwork' })
  .option('--dry-run', 'Print the SQL instead of running it')
  .example('ductwork migrate --database-url postgres://localhost/app')
  .action(async (options: { databaseUrl?: string; schema: string; dryRun?: boolean }) => {
    if (options.dryRun) {
      for (const m of loadMigrations(options.schema)) process.stdout.write(`-- ${m.name}\n${m.sql}\n`);
      return;
    }
    const url = options.databaseUrl ?? process.env.DATABASE_URL;
    if (!url) throw new DuctworkError('config_invalid', 'No database: pass --database-url or set DATABASE_URL.');
    const sql = connect({ url, schema: options.schema, max: 2, applicationName: 'ductwork-migrate' });
    try {
      await checkConnection(sql, url);
      const applied = await migrate(sql, options.schema, (line) => process.stdout.write(`${line}\n`));
      process.stdout.write(applied.length ? `Migrated ${redactUrl(url)} schema "${options.schema}" (${applied.length} applied).\n` : `Schema "${options.schema}" is up to date.\n`);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

/** A client for the status and revive commands, from --database-url / DATABASE_URL. */
async function withClient<T>(options: { databaseUrl?: string; schema: string }, run: (client: DuctworkClient) => Promise<T>): Promise<T> {
  const url = options.databaseUrl ?? process.env.DATABASE_URL;
  if (!url) throw new DuctworkError('config_invalid', 'No database: pass --database-url or set DATABASE_URL.');
  const client = new DuctworkClient({ databaseUrl: url, schema: options.schema, poolSize: 2 });
  try {
    await checkConnection(client.sql, url);
    return await run(client);
  } finally {
    await client.close();
  }
}

cli
  .command('status [pipelineId]', 'Show a pipeline, or without an id the counts by status and the latest pipelines')
  .option('--database-url <url>', 'PostgreSQL URL (default: DATABASE_URL)')
  .option('--schema <name>', 'Schema name', { default: process.env.DUCTWORK_SCHEMA ?? 'ductwork' })
  .option('--json', 'Print the report as JSON')
  .action((id: string | undefined, options: { databaseUrl?: string; schema: string; json?: boolean }) =>
    withClient(options, async (client) => {
      if (id === undefined) {
        const overview = await client.overview();
        if (options.json) process.stdout.write(`${JSON.stringify(overview, null, 2)}\n`);
        else {
          process.stdout.write(`pipelines: ${Object.entries(overview.counts).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}\n`);
          for (const p of overview.latest) process.stdout.write(`  ${p.id} ${p.pipeline} ${p.status} ${p.createdAt.toISOString()}\n`);
        }
        return;
      }
      const report = await client.status(id);
      if (options.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      const steps = Object.entries(report.steps).map(([k, n]) => `${k} ${n}`).join(', ');
      process.stdout.write(`${report.pipeline} ${report.id}: ${report.status}\n  run ${report.runId}, steps: ${steps}\n`);
      for (const halt of report.halts) process.stdout.write(`  halted branch ${halt.branchId}: ${halt.reason}${halt.detail ? ` (${halt.detail})` : ''}\n`);
      if (report.status === 'completed') process.stdout.write(`  output: ${JSON.stringify(report.output)}\n`);
    }),
  );

cli
  .command('revive <pipelineId>', 'Re-run a halted pipeline, keeping its completed steps')
  .option('--database-url <url>', 'PostgreSQL URL (default: DATABASE_URL)')
  .option('--schema <name>', 'Schema name', { default: process.env.DUCTWORK_SCHEMA ?? 'ductwork' })
  .option('--no-context', 'Start the new run with an empty context')
  .action((id: string, options: { databaseUrl?: string; schema: string; context?: boolean }) =>
    withClient(options, async (client) => {
      await client.revive(id, { duplicateContext: options.context !== false });
      process.stdout.write(`Revived ${id}: a new run is in progress.\n`);
    }),
  );

cli
  .command('start', 'Run the engine (threaded by default) until SIGINT or SIGTERM')
  .option('-c, --config <file>', `Configuration file (default: ${DEFAULT_CONFIG_FILE} when it exists)`)
  .option('--threaded', 'One process with worker threads (forking: none)')
  .option('--forking', 'A supervisor with one child process per role (forking: default)')
  .option('--role <role>', 'all, advancer or worker (overrides DUCTWORK_ROLE and the file)')
  .option('--pipelines <names>', 'Comma-separated pipelines to run, or "*"')
  .option('--embedded', 'With no database configured, run on an embedded development PostgreSQL (.ductwork/pg)')
  .example('ductwork start -c config/ductwork.yml --role worker --pipelines EnrichUsers')
  .action((options: StartCommandOptions) => startCommand(options));

cli
  .command('health', "Exit 0 if this host's engine heartbeated within supervisor.reaper_timeout (a liveness probe)")
  .option('-c, --config <file>', 'Configuration file')
  .option('--pid <pid>', 'Only the engine with this process id')
  .action(async (options: { config?: string; pid?: string }) => {
    process.exitCode = await healthCommand(options);
  });

cli
  .command('trigger <pipeline> [input]', 'Trigger a pipeline with a JSON input; prints the new pipeline id')
  .option('-c, --config <file>', 'Configuration file (its app module names the pipelines)')
  .example(`ductwork trigger EnrichAllUsersData '{"daysOutdated": 7}'`)
  .action(async (name: string, input: string | undefined, options: { config?: string }) => {
    const { config } = loadConfig(options.config === undefined ? {} : { file: options.config });
    const app = await loadAppModule(config.app);
    const found = app.pipelines.find((p) => p.name === name);
    if (!found) throw new DuctworkError('unknown_pipeline', `Unknown pipeline "${name}" (the app module exports: ${app.pipelines.map((p) => p.name).join(', ')}).`);
    let value: unknown = null;
    if (input !== undefined) {
      try {
        value = JSON.parse(input);
      } catch (error) {
        throw new DuctworkError('trigger_input_not_json', `The input of ${name} is not valid JSON: ${(error as Error).message}.`);
      }
    }
    await withClient({ databaseUrl: config.database.url, schema: config.database.schema }, async (client) => {
      const handle = await client.trigger({ name, definition: found.definition }, value);
      process.stdout.write(`${handle.id}\n`);
    });
  });

cli
  .command('demo', 'Run an example pipeline with live progress (embedded development PostgreSQL unless DATABASE_URL is set)')
  .option('--items <n>', 'How many items the example expands over', { default: '300' })
  .option('--schema <name>', 'Schema for the demo', { default: 'ductwork_demo' })
  .action(async (options: { items?: string; schema?: string }) => {
    const { demoCommand } = await import('./demo.js');
    await demoCommand(options);
  });

cli
  .command('dashboard', 'Serve the web dashboard (127.0.0.1 by default; any other address needs dashboard.username/password)')
  .option('-c, --config <file>', 'Configuration file (database, schema and the dashboard: section)')
  .option('--database-url <url>', 'PostgreSQL URL (default: database.url, then DATABASE_URL)')
  .option('--schema <name>', 'Schema name (default: DUCTWORK_SCHEMA, then database.schema)')
  .option('--host <address>', 'Address to listen on', { default: '127.0.0.1' })
  .option('--port <port>', 'Port to listen on (0 picks a free one)', { default: 4000 })
  .option('--base-path <path>', 'Path prefix of every page, e.g. /ductwork behind a proxy')
  .example('ductwork dashboard --port 4000')
  .action(async (options: import('./dashboard.js').DashboardCommandOptions) => {
    const { dashboardCommand } = await import('./dashboard.js');
    await dashboardCommand(options);
  });

cli
  .command('init', 'Scaffold config/ductwork.yml, an example pipeline (src/pipelines.ts) and a tsconfig.json; never overwrites')
  .action(async () => {
    const { initCommand } = await import('./init.js');
    const { created, kept } = initCommand();
    for (const file of created) process.stdout.write(`created ${file}\n`);
    for (const file of kept) process.stdout.write(`kept    ${file} (exists)\n`);
    process.stdout.write(
      '\nNext: npm i ductwork typescript && npx tsc\n' +
        '      DATABASE_URL=postgres://... npx ductwork migrate\n' +
        '      DATABASE_URL=postgres://... npx ductwork start\n' +
        `      npx ductwork trigger GreetTeam '{"team":"core"}'\n`,
    );
  });

cli.help();
cli.version(pkg.version);

async function main(): Promise<void> {
  cli.parse(process.argv, { run: false });
  if (!cli.matchedCommand) {
    if (cli.args.length > 0) {
      const suggestion = nearest(String(cli.args[0]), cli.commands.map((c) => c.name.split(' ')[0]!).filter(Boolean));
      process.stderr.write(`Unknown command: ${cli.args[0]}${suggestion ? ` (did you mean "${suggestion}"?)` : ''}\n`);
      cli.outputHelp();
      process.exitCode = 1;
    } else if (!cli.options.help && !cli.options.version) {
      cli.outputHelp();
    }
    return;
  }
  await cli.runMatchedCommand();
}

main().catch((error: unknown) => {
  let message: string;
  if (error instanceof DuctworkError) message = `${error.message} [${error.code}]`;
  else if ((error as Error)?.name === 'CACError') {
    const unknown = /Unknown option `--?([^`]+)`/.exec((error as Error).message)?.[1];
    const known = (cli.matchedCommand?.options ?? []).flatMap((o) => o.names);
    const suggestion = unknown ? nearest(unknown, known) : undefined;
    message = `${(error as Error).message}${suggestion ? ` (did you mean "--${suggestion}"?)` : ''}; see \`ductwork ${cli.matchedCommand?.name.split(' ')[0] ?? ''} --help\``;
  } else message = (error as Error)?.stack ?? String(error);
  process.stderr.write(`ductwork: ${message}\n`);
  process.exitCode = 1;
});
