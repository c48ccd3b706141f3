/**
 * The results table (printed, and written as Markdown) and the ratios ductwork ÷ peer of each
 * row's primary metric.
 */
import type { Row } from './cells.js';
import type { FloorResult } from './floor.js';

/** ours ÷ theirs of the primary metric, against the ductwork row of the same scenario, measure and config. */
export function addRatios(rows: Row[]): void {
  for (const row of rows) {
    if (row.system === 'ductwork' || row.status === 'failed') continue;
    const ours =
      rows.find((r) => r.system === 'ductwork' && r.scenario === row.scenario && r.measure === row.measure && r.config === row.config && r.status !== 'failed') ??
      rows.find((r) => r.system === 'ductwork' && r.scenario === row.scenario && r.measure === row.measure && r.config === 'tuned' && r.status !== 'failed');
    const a = ours?.[row.metric] as number | null | undefined;
    const b = row[row.metric] as number | null | undefined;
    row.ratio_vs_ductwork = typeof a === 'number' && typeof b === 'number' && b !== 0 ? Number((a / b).toPrecision(3)) : null;
    row.ratio_against = ours ? `ductwork ${ours.config}` : null;
  }
}

const fmt = (x: unknown) => (x === null || x === undefined ? '—' : typeof x === 'number' ? x.toLocaleString('en-US') : String(x));

function details(row: Row): string {
  if (row.status === 'failed') return `FAILED: ${row.error}`;
  const parts: string[] = [];
  if (row.scenario === 'recovery') {
    parts.push(`first re-claim ${fmt(row.first_reclaim_ms)} ms, all done ${fmt(row.all_done_ms)} ms, lost ${fmt(row.lost)} of ${fmt(row.in_flight_at_kill)}`);
  } else if (row.scenario === 'idle') {
    parts.push(
      `idle ${fmt(row.idle_queries_per_s)} xact/s, CPU ${fmt(row.idle_cpu_pct)}%, RSS ${fmt(row.idle_rss_mb)} MB → ${fmt(row.rss_after_load_mb)} MB after ${fmt(row.load_steps)} steps (${(row.rss_growth_mb as number) >= 0 ? '+' : ''}${fmt(row.rss_growth_mb)})`,
    );
  } else if (row.scenario === 'latency') {
    parts.push(`${fmt(row.samples)} samples, max ${fmt(row.max_ms)} ms`);
  } else if (row.e2e_ms !== undefined) {
    parts.push(`${fmt(row.steps)} steps in ${fmt(row.e2e_ms)} ms`);
  }
  if (row.notes) parts.push(String(row.notes));
  return parts.join('; ');
}

const METRIC_LABEL: Record<string, string> = {
  steps_per_s: 'steps/s', p50_ms: 'p50', first_reclaim_ms: 'first re-claim', idle_queries_per_s: 'idle xact/s',
};

export function table(rows: Row[]): string {
  const header = ['scenario', 'system', 'config', 'steps/s', 'p50 ms', 'p99 ms', 'commits/step', 'CPU ms/1k steps', 'peak RSS MB', 'ductwork ÷ this', 'details'];
  const body = rows.map((r) => [
    r.measure ? `${r.scenario}: ${r.measure}` : r.scenario,
    `${r.system} ${r.version}`,
    r.config,
    fmt(r.steps_per_s),
    fmt(r.p50_ms),
    fmt(r.p99_ms),
    fmt(r.commits_per_step),
    fmt(r.cpu_ms_per_1k_steps),
    fmt(r.peak_rss_mb),
    typeof r.ratio_vs_ductwork === 'number' ? `${r.ratio_vs_ductwork} (${METRIC_LABEL[r.metric] ?? r.metric}; ${r.better === 'higher' ? '> 1' : '< 1'} favours ductwork)` : '',
    details(r),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

export function floorTable(floor: FloorResult[], seconds: number): string {
  const lines = [`| raw-SQL floor (pgbench -M prepared -c 8 -j 2 -T ${seconds}) | steps/s | commits/step |`, '|---|---|---|'];
  for (const f of floor) lines.push(`| ${f.script} | ${f.error ? `error: ${f.error}` : fmt(f.steps_per_s)} | ${f.commits_per_step} |`);
  return lines.join('\n');
}

/** Issue 5's targets for ductwork, by row (scenario, measure). */
const TARGETS: Record<string, string> = {
  'latency:trigger → first step': 'p50 ≤ 5 ms, p99 ≤ 20 ms',
  'latency:step → step': 'p50 ≤ 5 ms',
  throughput: '≥ 10,000 steps/s and ≥ 1.5× graphile-worker tuned',
  expand: '10k → collapse ≤ 3 s',
  recovery: 'first re-claim ≤ 5 s, lost 0',
  idle: 'RSS ≤ 120 MB, no growth after 100k steps',
};

function primary(row: Row | undefined): string {
  if (!row) return '';
  if (row.status === 'failed') return 'failed';
  const capped = row.status === 'capped' ? ' (capped)' : '';
  switch (row.scenario) {
    case 'latency':
      return `p50 ${fmt(row.p50_ms)} / p99 ${fmt(row.p99_ms)} ms${capped}`;
    case 'recovery':
      return row.first_reclaim_ms === null
        ? `none re-claimed within the cap, lost ${fmt(row.lost)}`
        : `${fmt(row.first_reclaim_ms)} ms, all done ${fmt(row.all_done_ms)} ms, lost ${fmt(row.lost)}`;
    case 'idle':
      return `${fmt(row.idle_queries_per_s)} xact/s, RSS ${fmt(row.idle_rss_mb)} → ${fmt(row.rss_after_load_mb)} MB after ${fmt(row.load_steps)} steps${capped}`;
    case 'expand':
      return `${fmt(row.steps_per_s)} steps/s, ${fmt(row.e2e_ms)} ms${capped}`;
    default:
      return `${fmt(row.steps_per_s)} steps/s, ${fmt(row.commits_per_step)} commits/step${capped}`;
  }
}

/** One line per scenario (and latency measure): each system's tuned config side by side, and the target. */
export function summaryTable(rows: Row[], config: 'default' | 'tuned' = 'tuned'): string {
  const systems = [...new Set(rows.map((r) => r.system))];
  const keys = [...new Set(rows.map((r) => (r.measure ? `${r.scenario}:${r.measure}` : r.scenario)))];
  const lines = [`| scenario (${config}) | ${systems.join(' | ')} | target (ductwork) |`, `|${'---|'.repeat(systems.length + 2)}`];
  for (const key of keys) {
    const pick = (system: string) => rows.find((r) => r.system === system && r.config === config && (r.measure ? `${r.scenario}:${r.measure}` : r.scenario) === key);
    const cells = systems.map((system) => {
      const row = pick(system);
      const ratio = typeof row?.ratio_vs_ductwork === 'number' ? ` (ductwork ÷ this ${row.ratio_vs_ductwork})` : '';
      return primary(row) + ratio;
    });
    lines.push(`| ${key.replace(':', ': ')} | ${cells.join(' | ')} | ${TARGETS[key] ?? ''} |`);
  }
  return lines.join('\n');
}

/** What a run records besides its rows (bench/results/*.meta.json). */
export interface Meta {
  date: string;
  mode: 'quick' | 'full';
  node: string;
  cpu: string;
  memory_gb: number;
  postgres: string;
  synchronous_commit: string;
  shared_buffers: string;
  concurrency: number;
  pool_size: number;
  git: string | undefined;
  sizes: { floorSeconds: number };
  minutes: number;
  floor: FloorResult[] | string;
}

/** The console report and the Markdown file of one run. */
export function render(rows: Row[], meta: Meta): { console: string; markdown: string } {
  const header = [
    `Benchmark results (${meta.mode}${meta.mode === 'quick' ? ' mode: smaller sizes, tuned configs only plus ductwork default for latency' : ''}), ${meta.date.slice(0, 16).replace('T', ' ')} UTC, ${meta.minutes.toFixed(1)} min`,
    `Machine: ${meta.cpu}, ${meta.memory_gb} GiB; Node ${meta.node}; ${meta.postgres}, synchronous_commit=${meta.synchronous_commit}, shared_buffers=${meta.shared_buffers}; concurrency ${meta.concurrency}, pool ${meta.pool_size} (tuned); ductwork ${meta.git ?? ''}`,
  ];
  const floor = typeof meta.floor === 'string' ? `Raw-SQL floor: ${meta.floor}` : floorTable(meta.floor, meta.sizes.floorSeconds);
  const markdown = [
    ...header.map((h) => `${h}  `),
    '',
    summaryTable(rows),
    '',
    table(rows),
    '',
    floor,
    '',
    '"ductwork ÷ this" is ours ÷ theirs of the row\'s primary metric against the ductwork row of the same config',
    '(above 1 is better for steps/s; below 1 is better for latencies and idle transactions).',
    'Peers add the successor job outside the completion transaction (at-least-once); ductwork commits each move in one transaction.',
    '',
  ].join('\n');
  return { console: `${header.join('\n')}\n\n${table(rows)}\n\n${floor}`, markdown };
}
