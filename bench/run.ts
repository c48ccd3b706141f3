/**
 * The benchmark runner (`npm run bench`): for each scenario × system × config it creates a
 * database, runs the system's adapter as a child process on this same Node binary, measures from
 * outside (/proc, pg_stat_database) and inside (step timestamps), and prints one table, with the
 * raw-SQL floor beside it. Results: bench/results/latest.{json,md,meta.json} for the full suite,
 * latest-quick.* for --quick, partial.* (not committed) when --only/--systems/--configs pick a subset.
 *
 *   npm run bench                         full suite (every config), about 90 min on 2 cores
 *   npm run bench -- --quick              smaller sizes, tuned configs, about 5 minutes
 *   npm run bench -- --only throughput,latency --systems ductwork --configs tuned
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { notApplicable, type Cell, type Row, type Sql } from './lib/cell.js';
import { burnDown, idle, latency, manyPipelines } from './lib/cells.js';
import { AdapterChild } from './lib/child.js';
import { pgbenchMissing, runFloor, type FloorResult } from './lib/floor.js';
import { history } from './lib/history.js';
import { REPORTED_SETTINGS, startPrivateServer, type PrivateServer } from './lib/private-pg.js';
import type { ConfigName } from './lib/protocol.js';
import { recovery } from './lib/recovery.js';
import { addRatios, render, type Meta } from './lib/report.js';
import { retention } from './lib/retention.js';
import { waiting } from './lib/waiting.js';
import { tracingCost } from './lib/tracing-cost.js';

const SCENARIOS = ['latency', 'throughput', 'expand', 'divide', 'recovery', 'recovery-backlog', 'idle', 'many-pipelines', 'waiting', 'history', 'retention', 'tracing'] as const;
type Scenario = (typeof SCENARIOS)[number];
/** `--only recovery` also runs its backlog variant; `--only sustained` is the history cell (its build). */
const ALIASES: Record<string, Scenario[]> = { recovery: ['recovery', 'recovery-backlog'], sustained: ['history'] };
const SYSTEMS: Record<string, string> = {
  ductwork: new URL('./ductwork/adapter.js', import.meta.url).pathname,
  'graphile-worker': new URL('../../bench/peers/graphile-worker.mjs', import.meta.url).pathname,
  'pg-boss': new URL('../../bench/peers/pg-boss.mjs', import.meta.url).pathname,
  dbos: new URL('../../bench/peers/dbos.mjs', import.meta.url).pathname,
};
/** Quick mode runs these for ductwork only (the peers' figures come from the full suite). */
const QUICK_OURS_ONLY: readonly Scenario[] = ['many-pipelines', 'waiting', 'history', 'retention', 'tracing'];
/** Cells that run on the private server (autovacuum on), not the shared one. */
const PRIVATE: readonly Scenario[] = ['history', 'retention'];
/** Cells a system does not run, and why (each gets an n/a row instead). */
const NOT_RUN: Partial<Record<Scenario, Record<string, string>>> = {
  'recovery-backlog': {
    'graphile-worker': 'OSS graphile-worker releases a dead worker\'s jobs after 4 h (the in-flight-only row shows no re-claim within its cap)',
  },
  history: Object.fromEntries(['graphile-worker', 'pg-boss', 'dbos'].map((s) => [s, 'ductwork only (issue 13 measures the engine\'s own history)'])),
  retention: Object.fromEntries(['graphile-worker', 'pg-boss', 'dbos'].map((s) => [s, 'ductwork only (the retention keys under test are the engine\'s)'])),
  waiting: Object.fromEntries(['graphile-worker', 'pg-boss', 'dbos'].map((s) => [s, 'ductwork only (no adapter drives the peers\' own waits, e.g. DBOS recv, yet)'])),
  tracing: Object.fromEntries(['graphile-worker', 'pg-boss', 'dbos'].map((s) => [s, 'ductwork only (the cost of the engine\'s own spans)'])),
};

const SIZES = {
  quick: {
    latency: { pipelines: 20, warmup: 1, capMs: 5_000 },
    throughput: { pipelines: 200, capMs: 15_000 },
    expand: { items: 2_000, capMs: 10_000 },
    divide: { pipelines: 20, capMs: 15_000 },
    recovery: { inflight: 100, sleepMs: 2_000, capMs: 18_000 },
    backlog: { inflight: 100, sleepMs: 2_000, capMs: 30_000, backlog: 1_000, backlogMs: 200 },
    idle: { idleMs: 6_000, loadPipelines: 300, capMs: 20_000 },
    many: { idleMs: 4_000 },
    waiting: { waiting: 10_000, idleMs: 4_000, latencyPipelines: 50, capMs: 120_000 },
    history: { batches: 6, batchPipelines: 200, burnPipelines: 200, latencyPipelines: 10, capMs: 60_000 },
    retention: { steps: 20_000, batchPipelines: 500, depthPipelines: 1_000, sampleMs: 2_000, tailMs: 3_000, capMs: 120_000 },
    tracing: { pipelines: 1_000, capMs: 30_000, rounds: 3 },
    floorSeconds: 3,
  },
  full: {
    latency: { pipelines: 200, warmup: 2, capMs: 60_000 },
    throughput: { pipelines: 1_000, capMs: 120_000 },
    expand: { items: 10_000, capMs: 120_000 },
    divide: { pipelines: 100, capMs: 120_000 },
    recovery: { inflight: 100, sleepMs: 3_000, capMs: 60_000 },
    backlog: { inflight: 100, sleepMs: 3_000, capMs: 120_000, backlog: 5_000, backlogMs: 500 },
    idle: { idleMs: 60_000, loadPipelines: 10_000, capMs: 360_000 },
    many: { idleMs: 20_000 },
    waiting: { waiting: 100_000, idleMs: 20_000, latencyPipelines: 200, capMs: 600_000 },
    history: { batches: 10, batchPipelines: 10_000, burnPipelines: 1_000, latencyPipelines: 50, capMs: 300_000 },
    retention: { steps: 1_000_000, batchPipelines: 1_000, depthPipelines: 2_000, sampleMs: 5_000, tailMs: 70_000, capMs: 1_200_000 },
    tracing: { pipelines: 1_000, capMs: 120_000, rounds: 3 },
    floorSeconds: 12,
  },
};

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    systems: { type: 'string' },
    configs: { type: 'string' },
    'no-floor': { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '64' },
    pool: { type: 'string', default: '10' },
    keep: { type: 'boolean', default: false },
    set: { type: 'string', multiple: true },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  console.log(`npm run bench -- [--quick] [--only ${SCENARIOS.join(',')}] [--systems ${Object.keys(SYSTEMS).join(',')}]
                 [--configs default,tuned] [--no-floor] [--concurrency 64] [--pool 10] [--keep]
                 [--set <scenario>.<size>=<n> ...]   e.g. --set throughput.pipelines=2000 --set recovery.capMs=60000
  BENCH_ADMIN_URL  server to use (default postgres://postgres@127.0.0.1:5432/postgres)`);
  process.exit(0);
}

const list = <T extends string>(value: string | undefined, all: readonly T[], what: string): T[] => {
  if (!value) return [...all];
  const picked = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of picked) if (!all.includes(p as T)) throw new Error(`unknown ${what} "${p}" (known: ${all.join(', ')})`);
  return picked as T[];
};

const mode = args.quick ? 'quick' : 'full';
const sizes = SIZES[mode];
// --set throughput.pipelines=2000 (repeatable) overrides one size of the chosen mode.
for (const assignment of args.set ?? []) {
  const match = /^(\w+)\.(\w+)=(\d+)$/.exec(assignment);
  const group = match && (sizes as unknown as Record<string, Record<string, number>>)[match[1]!];
  if (!match || !group || !(match[2]! in group)) throw new Error(`--set ${assignment}: expected <scenario>.<size>=<number>, one of ${JSON.stringify(sizes)}`);
  group[match[2]!] = Number(match[3]);
}
const scenarios = args.only
  ? [...new Set(args.only.split(',').map((x) => x.trim()).filter(Boolean).flatMap((x) => ALIASES[x] ?? list<Scenario>(x, SCENARIOS, 'scenario')))]
  : [...SCENARIOS];
const systems = list(args.systems, Object.keys(SYSTEMS), 'system');
const configs = list<ConfigName>(args.configs, ['default', 'tuned'], 'config');
const subset = Boolean(args.only || args.systems || args.configs);
const adminUrl = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const server = new URL(adminUrl);
const resultsDir = new URL('../../bench/results/', import.meta.url).pathname;
mkdirSync(resultsDir, { recursive: true });
const logFile = `${resultsDir}children.log`;
writeFileSync(logFile, '');

/**
 * Quick mode runs tuned configs only, plus ductwork's default for latency. History and retention
 * run tuned only in every mode (they are long, and about storage, not settings).
 */
function configsFor(system: string, scenario: Scenario): ConfigName[] {
  if (mode === 'quick' && !args.systems && system !== 'ductwork' && QUICK_OURS_ONLY.includes(scenario)) return [];
  if (PRIVATE.includes(scenario)) return configs.includes('tuned') ? ['tuned'] : [];
  if (mode === 'full' || args.configs) return configs;
  return system === 'ductwork' && scenario === 'latency' ? ['default', 'tuned'] : ['tuned'];
}

function urlOn(serverUrl: string, db: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${db}`;
  return url.href;
}

function gitSha(...args: string[]): string | undefined {
  try {
    return execFileSync('git', args.length ? args : ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

async function runCell(cell: Cell, scenario: Scenario): Promise<Row[]> {
  switch (scenario) {
    case 'latency':
      return latency(cell, sizes.latency);
    case 'throughput':
      return burnDown(cell, { kind: 'chain', pipelines: sizes.throughput.pipelines, keyPrefix: 'c' }, sizes.throughput.capMs);
    case 'expand':
      return burnDown(cell, { kind: 'expand', items: sizes.expand.items, keyPrefix: 'e' }, sizes.expand.capMs);
    case 'divide':
      return burnDown(cell, { kind: 'divide', pipelines: sizes.divide.pipelines, keyPrefix: 'd' }, sizes.divide.capMs);
    case 'recovery':
      return recovery(cell, { ...sizes.recovery, backlog: 0, backlogMs: 0 });
    case 'recovery-backlog':
      return recovery(cell, sizes.backlog);
    case 'idle':
      return idle(cell, sizes.idle);
    case 'many-pipelines':
      return manyPipelines(cell, sizes.many);
    case 'waiting':
      return waiting(cell, sizes.waiting);
    case 'history':
      return history(cell, sizes.history);
    case 'retention':
      return retention(cell, sizes.retention);
    case 'tracing':
      return tracingCost(cell, sizes.tracing);
  }
}

/** How long a cell may take before the runner gives up on it (a hang, not a slow system: caps come first). */
function cellBudgetMs(scenario: Scenario): number {
  switch (scenario) {
    case 'recovery-backlog':
      return sizes.backlog.capMs + 180_000;
    case 'many-pipelines':
      return 2 * sizes.many.idleMs + 180_000;
    case 'waiting':
      return 2 * sizes.waiting.capMs + 180_000;
    case 'history':
      return (sizes.history.batches + 4) * sizes.history.capMs + 600_000;
    case 'retention':
      return sizes.retention.capMs + sizes.retention.tailMs + 300_000;
    case 'tracing':
      return 2 * sizes.tracing.rounds * (sizes.tracing.capMs + 120_000);
    default: {
      const s = sizes[scenario] as { capMs: number; idleMs?: number };
      return s.capMs + (s.idleMs ?? 0) + 180_000;
    }
  }
}

const SERVER_GONE = /shutting down|starting up|ECONNREFUSED|ECONNRESET|terminating connection|CONNECTION_(CLOSED|ENDED|DESTROYED)|Connection terminated/i;

/** Runs `work`, and again (up to 3 times) after the server comes back if it went away meanwhile. */
async function withServer<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= 3 || !SERVER_GONE.test(String((error as Error).message ?? error))) throw error;
      await waitForServer();
    }
  }
}

// A query on a pool whose server restarted can reject where nobody awaits it; the run goes on.
process.on('unhandledRejection', (error) => console.error(`\n(unhandled rejection: ${(error as Error)?.message ?? error})`));

const started = performance.now();
const admin = postgres(adminUrl, { max: 2, onnotice: () => {} });
const monitor = postgres(adminUrl, { max: 1, fetch_types: false, onnotice: () => {} }) as unknown as Cell['monitor'];
const [pg] = await withServer(() => admin`select version() as version, current_setting('synchronous_commit') as sync, current_setting('shared_buffers') as shared_buffers, current_setting('max_connections') as max_connections`);
const sha = gitSha();
const meta = {
  date: new Date().toISOString(),
  mode,
  node: process.version,
  cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
  memory_gb: Math.round(totalmem() / 2 ** 30),
  postgres: String(pg!.version).split(' on ')[0],
  synchronous_commit: pg!.sync,
  shared_buffers: pg!.shared_buffers,
  concurrency: Number(args.concurrency),
  pool_size: Number(args.pool),
  git: sha,
  // The last commit that changed the engine itself (bench commits on top of it do not change what is measured).
  engine_commit: gitSha('log', '-1', '--format=%h', '--', 'src', 'workers', 'sql', 'package.json'),
  load_1m_at_start: Math.round(loadavg()[0]! * 100) / 100,
  sizes,
};
console.log(`ductwork bench (${mode}${mode === 'quick' ? ': smaller sizes, tuned configs only, plus ductwork default for latency' : ''})`);
console.log(`Node ${meta.node} · ${meta.cpu} · ${meta.memory_gb} GiB · ${meta.postgres} · synchronous_commit=${meta.synchronous_commit} · shared_buffers=${meta.shared_buffers}`);
if (Number(process.versions.node.split('.')[0]) < 22) console.log('warning: graphile-worker and pg-boss need Node ≥ 22; run through `npm run bench`.');

let floor: FloorResult[] | undefined;
let floorSkipped: string | undefined = args['no-floor'] ? 'skipped (--no-floor)' : pgbenchMissing();
if (!floorSkipped) {
  process.stdout.write(`raw-SQL floor (pgbench, ${sizes.floorSeconds} s per script) … `);
  await withServer(() => admin.unsafe('drop database if exists bench_floor with (force)'));
  await withServer(() => admin.unsafe('create database bench_floor'));
  const connection = { host: server.hostname, port: server.port || '5432', user: decodeURIComponent(server.username || 'postgres') };
  floor = runFloor(connection, 'bench_floor', sizes.floorSeconds);
  if (floor.some((f) => f.error)) {
    // Most likely the server restarted under pgbench: once more, for the scripts that failed.
    await waitForServer();
    await withServer(() => admin.unsafe('drop database if exists bench_floor with (force)'));
    await withServer(() => admin.unsafe('create database bench_floor'));
    const again = runFloor(connection, 'bench_floor', sizes.floorSeconds);
    floor = floor.map((f, i) => (f.error && !again[i]!.error ? again[i]! : f));
  }
  await withServer(() => admin.unsafe('drop database if exists bench_floor with (force)'));
  console.log(`${floor.map((f) => `${f.script} ${f.steps_per_s ?? 'error'}`).join(', ')} (at ${elapsed()})`);
} else {
  console.log(`raw-SQL floor: ${floorSkipped}`);
}

const plan: { scenario: Scenario; system: string; config: ConfigName }[] = [];
for (const scenario of scenarios) for (const system of systems) for (const config of configsFor(system, scenario)) plan.push({ scenario, system, config });

/** The private server (autovacuum on) for history and retention, started the first time a cell needs it. */
let privateServer: (PrivateServer & { admin: Sql; monitor: Sql; settings: Record<string, string> }) | undefined;
async function privateOne(): Promise<NonNullable<typeof privateServer>> {
  if (privateServer) return privateServer;
  process.stdout.write('(starting the private PostgreSQL for history/retention … ');
  const started = await startPrivateServer((line) => appendFileSync(logFile, `[private-pg] ${line}\n`));
  const privateAdmin = postgres(started.adminUrl, { max: 2, onnotice: () => {} }) as unknown as Sql;
  const privateMonitor = postgres(started.adminUrl, { max: 1, fetch_types: false, onnotice: () => {} }) as unknown as Sql;
  const settings = Object.fromEntries(
    (await privateAdmin`select name, setting || coalesce(unit, '') as value from pg_settings where name in ${privateAdmin(REPORTED_SETTINGS)}`).map((r) => [r.name as string, r.value as string]),
  );
  process.stdout.write(`PostgreSQL ${settings.server_version}, autovacuum ${settings.autovacuum}) `);
  privateServer = { ...started, admin: privateAdmin, monitor: privateMonitor, settings };
  return privateServer;
}

const rows: Row[] = [];
let failed = 0;
for (const [n, { scenario, system, config }] of plan.entries()) {
  const db = `bench_${system.replace(/-/g, '_')}_${scenario.replace(/-/g, '_')}`;
  const t = performance.now();
  process.stdout.write(`[${n + 1}/${plan.length} at ${elapsed()}] ${scenario} · ${system} · ${config} … `);
  const load = Math.round(loadavg()[0]! * 100) / 100;
  const reason = NOT_RUN[scenario]?.[system];
  if (reason) {
    const row = notApplicable({ scenario, system, config, mode } as Cell, '', 'steps_per_s', 'higher', reason, {
      ...(scenario === 'recovery-backlog' ? { scenario: 'recovery', measure: `backlog ${sizes.backlog.backlog.toLocaleString('en-US')}` } : {}),
    });
    rows.push(row);
    console.log(`n/a (${reason})`);
    continue;
  }
  const onPrivate = PRIVATE.includes(scenario) ? await privateOne() : undefined;
  const cellAdmin = (onPrivate?.admin ?? admin) as unknown as Sql;
  const serverUrl = onPrivate?.adminUrl ?? adminUrl;
  const cell: Cell = {
    system, adapter: SYSTEMS[system]!, config, scenario, mode, db, dbUrl: urlOn(serverUrl, db),
    concurrency: Number(args.concurrency), poolSize: Number(args.pool), monitor: onPrivate?.monitor ?? monitor, admin: cellAdmin,
    urlOf: (name) => urlOn(serverUrl, name), logFile,
    env: sha ? { BENCH_GIT_SHA: sha } : {},
    ...(onPrivate ? { server: onPrivate.settings } : {}),
  };
  let retried: string | undefined;
  for (let attempt = 0; ; attempt++) {
    let timer: NodeJS.Timeout | undefined;
    try {
      await withServer(() => cellAdmin.unsafe(`drop database if exists ${db} with (force)`));
      await withServer(() => cellAdmin.unsafe(`create database ${db}`));
      const budget = cellBudgetMs(scenario);
      const out = await Promise.race([
        runCell(cell, scenario),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`cell timed out after ${Math.round(budget / 1000)} s`)), budget))),
      ]);
      for (const row of out) {
        row.load_1m_at_start = load;
        if (retried) row.notes = [row.notes, `retried once after: ${retried}`].filter(Boolean).join('; ');
      }
      rows.push(...out);
      console.log(`${out.map((r) => summary(r)).join('; ')} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
      break;
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      // The server restarting under us (another user of this PostgreSQL) is not the system's fault: one retry.
      if (attempt === 0 && SERVER_GONE.test(message)) {
        retried = message;
        process.stdout.write(`server went away (${message}); retrying … `);
        await waitForServer();
        continue;
      }
      failed++;
      rows.push({
        scenario: scenario === 'recovery-backlog' ? 'recovery' : scenario, system, version: '', steps_per_s: null, p50_ms: null, p99_ms: null, commits_per_step: null,
        cpu_ms_per_1k_steps: null, peak_rss_mb: null, config, mode, status: 'failed', metric: 'steps_per_s', better: 'higher', error: message,
        load_1m_at_start: load, ...(scenario === 'recovery-backlog' ? { measure: `backlog ${sizes.backlog.backlog.toLocaleString('en-US')}` } : {}),
      });
      console.log(`FAILED: ${message}`);
      break;
    } finally {
      clearTimeout(timer);
      for (const child of AdapterChild.live) child.kill();
      if (!args.keep) await withServer(() => cellAdmin.unsafe(`drop database if exists ${db} with (force)`)).catch(() => {});
    }
  }
}
if (privateServer) {
  await privateServer.admin.end({ timeout: 1 }).catch(() => {});
  await privateServer.monitor.end({ timeout: 1 }).catch(() => {});
  await privateServer.stop();
}

async function waitForServer(): Promise<void> {
  for (let i = 0; i < 120; i++) {
    try {
      await admin`select 1`;
      await monitor`select 1`;
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

function elapsed(): string {
  const s = Math.round((performance.now() - started) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function summary(r: Row): string {
  if (r.status === 'n/a') return String(r.notes);
  const value = r[r.metric];
  const unit =
    r.metric === 'steps_per_s' ? ' steps/s'
    : r.metric.endsWith('_ms') ? ' ms'
    : r.metric.endsWith('_mb') ? ' MB'
    : r.metric === 'idle_queries_per_s' ? ' xact/s idle'
    : r.metric.endsWith('ratio') || r.metric === 'vs_empty' ? '×'
    : '';
  const label = r.measure ? `${r.scenario === 'latency' ? `${r.measure} p50` : r.measure} ` : r.scenario === 'sustained' ? 'sustained last ÷ first batch ' : '';
  return `${label}${value ?? '—'}${unit}${r.status === 'capped' ? ' (capped)' : ''}`;
}

addRatios(rows);
const minutes = (performance.now() - started) / 60_000;
const notRun = plan.filter((p) => NOT_RUN[p.scenario]?.[p.system]).length;
const ok = plan.length - failed - notRun;
const fullMeta: Meta = {
  ...(meta as Omit<Meta, 'minutes' | 'floor'>), minutes: Math.round(minutes * 10) / 10, floor: floor ?? floorSkipped ?? 'skipped',
  ...(privateServer ? { private_server: privateServer.settings } : {}),
};
const rendered = render(rows, fullMeta);
console.log(`\n${rendered.console}`);
const name = subset ? 'partial' : mode === 'quick' ? 'latest-quick' : 'latest';
writeFileSync(`${resultsDir}${name}.json`, `${JSON.stringify(rows, null, 2)}\n`);
writeFileSync(`${resultsDir}${name}.meta.json`, `${JSON.stringify(fullMeta, null, 2)}\n`);
writeFileSync(`${resultsDir}${name}.md`, rendered.markdown);
console.log(`\nwrote bench/results/${name}.json, ${name}.md, ${name}.meta.json (children's output: bench/results/children.log)`);
console.log(`${ok} cells ok, ${failed} failed${notRun ? ` (${notRun} not run: n/a for that system)` : ''}`);
await admin.end({ timeout: 1 }).catch(() => {});
await monitor.end({ timeout: 1 }).catch(() => {});
process.exit(failed > 0 ? 1 : 0);
