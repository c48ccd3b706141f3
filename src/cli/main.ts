#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { cac, type Command } from 'cac';
import { DuctworkError } from '../errors.js';
import { nearest } from '../config/config.js';
import { DEFAULT_CONFIG_FILE } from '../config/load.js';

// Each command imports what it needs when it runs: `ductwork health` is a liveness probe and
// must not pay for the engine, the client and the dashboard before it can answer.
const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
const cli = cac('ductwork');

// `ductwork status | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

/** The database flags of every command that needs one: the same names, the same precedence. */
function databaseOptions(command: Command, configHelp = `Configuration file (default: ${DEFAULT_CONFIG_FILE} when it exists)`): Command {
  return command
    .option('-c, --config <file>', configHelp)
    .option('--database-url <url>', 'PostgreSQL URL (default: DATABASE_URL, then database.url in the file)')
    .option('--schema <name>', 'Schema name (default: DUCTWORK_SCHEMA, then database.schema in the file, then "ductwork")')
    .option('--embedded', 'With no database configured, use the development PostgreSQL in .ductwork/pg (joined if `ductwork dev` runs it)');
}

databaseOptions(cli.command('migrate', 'Create or upgrade the Ductwork schema (safe to run from many processes at once)'))
  .option('--dry-run', 'Print the SQL instead of running it')
  .option('--to <migration>', 'Apply pending migrations up to this one only (e.g. 003_dashboard)')
  .example('ductwork migrate --database-url postgres://localhost/app')
  .action(async (options) => (await import('./client-commands.js')).migrateCommand(options));

databaseOptions(cli.command('status [pipelineId]', 'Show a pipeline, or without an id the counts by status and the latest pipelines'))
  .option('--json', 'Print the report as JSON')
  .action(async (id: string | undefined, options) => (await import('./client-commands.js')).statusCommand(id, options));

databaseOptions(cli.command('revive <pipelineId>', 'Re-run a halted pipeline, keeping its completed steps'))
  .option('--no-context', 'Start the new run with an empty context')
  .action(async (id: string, options) => (await import('./client-commands.js')).reviveCommand(id, options));

databaseOptions(cli.command('cancel <pipelineId>', 'Cancel a pipeline in progress: no new step starts, running steps are told to stop, onHalt runs'))
  .option('--reason <text>', 'Why; stored with the pipeline and passed to its onHalt step')
  .action(async (id: string, options) => (await import('./client-commands.js')).cancelCommand(id, options));

databaseOptions(cli.command('signal <target> <event> [payload]', 'Send an event with a JSON payload to a pipeline (by id, or by its trigger key with --pipeline)'))
  .option('--pipeline <name>', 'Treat <target> as the key this pipeline class was triggered with')
  .option('--key <key>', 'Deduplication key: a second signal with the same key is ignored')
  .action(async (target: string, event: string, payload: string | undefined, options) =>
    (await import('./client-commands.js')).signalCommand(target, event, payload, options));

databaseOptions(cli.command('schedules', 'List the cron schedules with their next and last ticks'))
  .option('--json', 'Print them as JSON')
  .action(async (options) => (await import('./client-commands.js')).schedulesCommand(options));

databaseOptions(cli.command('check', "Deploy check: list runs in flight, waiting or scheduled that this build's app module cannot continue (exit 1 if any)"))
  .option('--json', 'Print the list as JSON')
  .action(async (options) => (await import('./client-commands.js')).checkCommand(options));

databaseOptions(cli.command('start', 'Run the engine (threaded by default) until SIGINT or SIGTERM'))
  .option('--threaded', 'One process with worker threads (forking: none)')
  .option('--forking', 'A supervisor with one child process per role (forking: default)')
  .option('--role <role>', 'all, advancer or worker (overrides DUCTWORK_ROLE and the file)')
  .option('--pipelines <names>', 'Comma-separated pipelines to run, or "*"')
  .option('--metrics-port <port>', 'Serve Prometheus metrics on this port at /metrics (threaded mode)')
  .option('--metrics-host <address>', 'Address of the metrics server', { default: '127.0.0.1' })
  .example('ductwork start -c config/ductwork.yml --role worker --pipelines EnrichUsers')
  .example('ductwork start --metrics-port 9464 --metrics-host 0.0.0.0')
  .action(async (options) => (await import('./start.js')).startCommand(options));

databaseOptions(cli.command('dev', 'Development loop: the engine and the dashboard in one process, on the embedded PostgreSQL unless a database is configured'))
  .option('--pipelines <names>', 'Comma-separated pipelines to run, or "*"')
  .option('--host <address>', 'Address of the dashboard', { default: '127.0.0.1' })
  .option('--port <port>', 'Port of the dashboard (0 picks a free one)', { default: 4000 })
  .example('ductwork dev')
  .action(async (options) => (await import('./dev.js')).devCommand(options));

databaseOptions(cli.command('health', "Exit 0 if this host's engine heartbeated within supervisor.reaper_timeout (a liveness probe)"))
  .option('--pid <pid>', 'Only the engine with this process id')
  .action(async (options) => {
    process.exitCode = await (await import('./health.js')).healthCommand(options);
  });

databaseOptions(cli.command('prune', 'Delete finished pipelines past their keep-time (retention.completed / retention.halted), or older than --older-than'))
  .option('--older-than <duration>', 'Delete completed and halted pipelines that finished longer ago than this, e.g. 30d or 12h')
  .option('--dry-run', 'Count what would be deleted and delete nothing')
  .example('ductwork prune --older-than 30d --dry-run')
  .action(async (options) => (await import('./client-commands.js')).pruneCommand(options));

databaseOptions(cli.command('trigger <pipeline> [input]', 'Trigger a pipeline of the app module with a JSON input; prints the new pipeline id'))
  .option('--key <key>', 'Deduplication key: if a pipeline of this class has it, its id is printed instead')
  .option('--delay <duration>', 'Start after this long, e.g. 15m or 24h')
  .example(`ductwork trigger EnrichAllUsersData '{"daysOutdated": 7}'`)
  .action(async (name: string, input: string | undefined, options) => (await import('./client-commands.js')).triggerCommand(name, input, options));

cli
  .command('demo', 'Run an example pipeline with live progress (embedded development PostgreSQL unless DATABASE_URL is set)')
  .option('--items <n>', 'How many items the example expands over', { default: '300' })
  .option('--schema <name>', 'Schema for the demo', { default: 'ductwork_demo' })
  .action(async (options: { items?: string; schema?: string }) => (await import('./demo.js')).demoCommand(options));

databaseOptions(cli.command('dashboard', 'Serve the web dashboard (127.0.0.1 by default; any other address needs dashboard.username/password)'))
  .option('--host <address>', 'Address to listen on', { default: '127.0.0.1' })
  .option('--port <port>', 'Port to listen on (0 picks a free one)', { default: 4000 })
  .option('--base-path <path>', 'Path prefix of every page, e.g. /ductwork behind a proxy')
  .option('--trust-proxy', 'Honour X-Forwarded-For / X-Forwarded-Host from a reverse proxy in front of the dashboard')
  .example('ductwork dashboard --port 4000')
  .action(async (options) => (await import('./dashboard.js')).dashboardCommand(options));

cli
  .command('init', 'Scaffold an ES-module TypeScript project: config/ductwork.yml, src/pipelines.ts, tsconfig.json and package.json; never overwrites')
  .action(async () => {
    const { initCommand, NEXT_STEPS } = await import('./init.js');
    const { created, kept, updated } = initCommand();
    for (const file of created) process.stdout.write(`created ${file}\n`);
    for (const line of updated) process.stdout.write(`updated ${line}\n`);
    for (const file of kept) process.stdout.write(`kept    ${file} (exists)\n`);
    process.stdout.write(NEXT_STEPS);
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
