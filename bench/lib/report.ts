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

/** Rows written per step (inserts + updates), with deletes and HOT updates beside them. */
function writes(row: Row): string {
  if (row.rows_per_step === undefined || row.rows_per_step === null) return '—';
  return `${fmt(row.rows_per_step)} (del ${fmt(row.deletes_per_step)}, HOT ${fmt(row.hot_updates_per_step)})`;
}

function details(row: Row): string {
  if (row.status === 'failed') return `FAILED: ${row.error}`;
  if (row.status === 'n/a' && row.scenario !== 'retention') return String(row.notes ?? 'n/a');
  const parts: string[] = [];
  if (row.scenario === 'recovery') {
    parts.push(
      `first re-run ${fmt(row.first_reclaim_ms)} ms, last ${fmt(row.last_rerun_ms)} ms (${fmt(row.reruns)} re-run of ${fmt(row.in_flight_at_kill)} in flight), all done ${fmt(row.all_done_ms)} ms, lost ${fmt(row.lost)}` +
        (row.backlog ? `; ${fmt(row.backlog)} queued behind (${fmt(row.backlog_ms)} ms sleeps)` : ''),
    );
  } else if (row.scenario === 'idle') {
    parts.push(
      `idle ${fmt(row.idle_queries_per_s)} xact/s, CPU ${fmt(row.idle_cpu_pct)}%, RSS ${fmt(row.start_rss_mb)} MB at start, ${fmt(row.idle_rss_mb)} MB idle → ${fmt(row.rss_after_load_mb)} MB after ${fmt(row.load_steps)} steps (${(row.rss_growth_mb as number) >= 0 ? '+' : ''}${fmt(row.rss_growth_mb)}; ${fmt(row.threads)} threads)`,
    );
  } else if (row.scenario === 'many-pipelines') {
    parts.push(`idle ${fmt(row.one_class_xact_per_s)} xact/s with 1 class, ${fmt(row.many_classes_xact_per_s)} with ${fmt(row.classes)} (${fmt(row.many_ratio)}×, over ${fmt(row.idle_seconds)} s each)`);
  } else if (row.scenario === 'waiting') {
    parts.push(`${fmt(row.waiting_runs)} runs parked on an event wait (in ${fmt(row.park_seconds)} s): idle ${fmt(row.idle_xact_per_s_empty)} → ${fmt(row.idle_xact_per_s_waiting)} xact/s (${fmt(row.idle_ratio)}×); trigger → first step p50 ${fmt(row.p50_ms_empty)} → ${fmt(row.p50_ms)} ms, p99 ${fmt(row.p99_ms_empty)} → ${fmt(row.p99_ms)} ms (${fmt(row.waiting_p99_ratio)}×)`);
  } else if (row.scenario === 'history') {
    parts.push(`${fmt(row.steps)} steps in ${fmt(row.e2e_ms)} ms on ${fmt(row.completed_steps_before)} completed steps${row.vs_empty !== undefined ? ` (${fmt(row.vs_empty)}× empty)` : ''}; trigger → first step at idle p50 ${fmt(row.claim_p50_ms)} / p99 ${fmt(row.claim_p99_ms)} ms${row.claim_p99_vs_empty !== undefined ? ` (p99 ${fmt(row.claim_p99_vs_empty)}× empty)` : ''}`);
  } else if (row.scenario === 'sustained') {
    const batches = (row.batches as { steps_per_s: number | null }[] | undefined) ?? [];
    parts.push(`${fmt(row.batch_pipelines)} pipelines a batch, steps/s per batch: ${batches.map((b) => fmt(b.steps_per_s)).join(' → ')} (last ÷ first ${fmt(row.sustained_ratio)}); ${fmt(row.history_size_mb)} MB after`);
  } else if (row.scenario === 'retention') {
    parts.push(`${fmt(row.steps)} steps in ${fmt(row.stream_s)} s; schema ${fmt(row.size_at_half_mb)} MB at half, ${fmt(row.size_at_end_mb)} MB at the end (+${fmt(row.growth_second_half_mb)} in the second half), max ${fmt(row.max_size_mb)}, ${fmt(row.size_after_tail_mb)} MB after the tail`);
  } else if (row.scenario === 'latency') {
    parts.push(`${fmt(row.samples)} samples, max ${fmt(row.max_ms)} ms`);
  } else if (row.e2e_ms !== undefined) {
    parts.push(`${fmt(row.steps)} steps in ${fmt(row.e2e_ms)} ms`);
  }
  if (row.notes) parts.push(String(row.notes));
  return parts.join('; ');
}

const METRIC_LABEL: Record<string, string> = {
  steps_per_s: 'steps/s', p50_ms: 'p50', first_reclaim_ms: 'first re-run', last_rerun_ms: 'last re-run', idle_queries_per_s: 'idle xact/s',
  many_ratio: '20 ÷ 1 classes', waiting_p99_ratio: 'p99 waiting ÷ empty', vs_empty: 'history ÷ empty', sustained_ratio: 'last ÷ first batch', max_size_mb: 'max size',
};

export function table(rows: Row[]): string {
  const header = ['scenario', 'system', 'config', 'steps/s', 'p50 ms', 'p99 ms', 'commits/step', 'rows/step', 'CPU ms/1k steps', 'peak RSS MB', 'ductwork ÷ this', 'details'];
  const body = rows.map((r) => [
    r.measure ? `${r.scenario}: ${r.measure}` : r.scenario,
    `${r.system} ${r.version}`,
    r.config,
    fmt(r.steps_per_s),
    fmt(r.p50_ms),
    fmt(r.p99_ms),
    fmt(r.commits_per_step),
    writes(r),
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
  'recovery:in flight only': 'first re-run ≤ 5 s, lost 0',
  idle: 'RSS ≤ 120 MB, no growth after 100k steps (issue 13: ≤ 100 MB, 2 threads, flat)',
  'many-pipelines': 'idle xact/s with 20 classes ≤ 1.5× one class',
  sustained: 'flat batch after batch',
  retention: 'total size bounded',
};

/** Targets whose key depends on the run's sizes. */
function target(key: string): string {
  if (key.startsWith('recovery:backlog')) return 'all in-flight steps re-run ≤ 5 s after the kill, lost 0 (issue 12)';
  if (key.startsWith('history:history')) return 'within 10% of empty (≥ 0.9×), claim p99 unchanged';
  return TARGETS[key] ?? '';
}

function primary(row: Row | undefined): string {
  if (!row) return '';
  if (row.status === 'failed') return 'failed';
  if (row.status === 'n/a' && row.scenario !== 'retention') return String(row.notes ?? 'n/a');
  const capped = row.status === 'capped' ? ' (capped)' : '';
  const rows = row.rows_per_step === undefined ? '' : `, ${fmt(row.rows_per_step)} rows/step`;
  switch (row.scenario) {
    case 'latency':
      return `p50 ${fmt(row.p50_ms)} / p99 ${fmt(row.p99_ms)} ms${capped}`;
    case 'recovery':
      return row.first_reclaim_ms === null
        ? `none re-run within the cap, lost ${fmt(row.lost)}`
        : `first re-run ${fmt(row.first_reclaim_ms)} ms, last ${fmt(row.last_rerun_ms)} ms, all done ${fmt(row.all_done_ms)} ms, lost ${fmt(row.lost)}`;
    case 'idle':
      return `${fmt(row.idle_queries_per_s)} xact/s, RSS ${fmt(row.start_rss_mb ?? row.idle_rss_mb)} → ${fmt(row.rss_after_load_mb)} MB after ${fmt(row.load_steps)} steps${capped}`;
    case 'expand':
      return `${fmt(row.steps_per_s)} steps/s, ${fmt(row.e2e_ms)} ms${rows}${capped}`;
    case 'many-pipelines':
      return `${fmt(row.one_class_xact_per_s)} → ${fmt(row.many_classes_xact_per_s)} xact/s (${fmt(row.many_ratio)}×)`;
    case 'waiting':
      return `${fmt(row.waiting_runs)} waiting: ${fmt(row.idle_xact_per_s_empty)} → ${fmt(row.idle_xact_per_s_waiting)} xact/s idle, p99 ${fmt(row.p99_ms_empty)} → ${fmt(row.p99_ms)} ms${capped}`;
    case 'history':
      return `${fmt(row.steps_per_s)} steps/s${row.vs_empty !== undefined ? ` (${fmt(row.vs_empty)}× empty)` : ''}, claim p99 ${fmt(row.claim_p99_ms)} ms${rows}${capped}`;
    case 'sustained':
      return `${((row.batches as { steps_per_s: number | null }[] | undefined) ?? []).map((b) => fmt(b.steps_per_s)).join(' → ')} steps/s${rows}${capped}`;
    case 'retention':
      return `${row.status === 'n/a' ? `${String(row.notes)}: ` : ''}${fmt(row.size_at_half_mb)} MB at half → ${fmt(row.size_at_end_mb)} MB at the end of ${fmt(row.steps)} steps${rows}${capped}`;
    default:
      return `${fmt(row.steps_per_s)} steps/s, ${fmt(row.commits_per_step)} commits/step${rows}${capped}`;
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
    lines.push(`| ${key.replace(':', ': ')} | ${cells.join(' | ')} | ${target(key)} |`);
  }
  return lines.join('\n');
}

/** The retention cells' size curves, about a dozen samples each (every sample is in the JSON). */
export function curves(rows: Row[]): string {
  const out: string[] = [];
  for (const row of rows.filter((r) => r.scenario === 'retention' && Array.isArray(r.samples))) {
    const samples = row.samples as { t_s: number; size_mb: number; steps_done: number }[];
    const every = Math.max(1, Math.ceil(samples.length / 12));
    const picked = samples.filter((_, i) => i % every === 0 || i === samples.length - 1);
    out.push(
      `Retention curve (${row.system} ${row.config}${row.retention ? `, keep ${JSON.stringify(row.retention)}` : ', without retention'}): total size of the engine's schema (tables + indexes + TOAST)`,
      '',
      '| t (s) | steps done | size (MB) |',
      '|---|---|---|',
      ...picked.map((p) => `| ${fmt(p.t_s)} | ${fmt(p.steps_done)} | ${fmt(p.size_mb)} |`),
      '',
    );
  }
  return out.join('\n');
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
  engine_commit?: string | undefined;
  sizes: { floorSeconds: number };
  minutes: number;
  floor: FloorResult[] | string;
  /** Settings of the private server the history and retention cells ran on. */
  private_server?: Record<string, string>;
}

/** The console report and the Markdown file of one run. */
export function render(rows: Row[], meta: Meta): { console: string; markdown: string } {
  const header = [
    `Benchmark results (${meta.mode}${meta.mode === 'quick' ? ' mode: smaller sizes, tuned configs only plus ductwork default for latency' : ''}), ${meta.date.slice(0, 16).replace('T', ' ')} UTC, ${meta.minutes.toFixed(1)} min`,
    `Machine: ${meta.cpu}, ${meta.memory_gb} GiB; Node ${meta.node}; ${meta.postgres}, synchronous_commit=${meta.synchronous_commit}, shared_buffers=${meta.shared_buffers}; concurrency ${meta.concurrency}, pool ${meta.pool_size} (tuned); ductwork ${meta.git ?? ''}${meta.engine_commit && meta.engine_commit !== meta.git ? ` (engine at ${meta.engine_commit})` : ''}`,
  ];
  if (meta.private_server) {
    const p = meta.private_server;
    header.push(
      `History and retention ran on a private PostgreSQL ${p.server_version} (autovacuum=${p.autovacuum}, naptime ${p.autovacuum_naptime}, vacuum/analyze scale ${p.autovacuum_vacuum_scale_factor}/${p.autovacuum_analyze_scale_factor}, shared_buffers=${p.shared_buffers}, synchronous_commit=${p.synchronous_commit}, fsync=${p.fsync}, max_wal_size=${p.max_wal_size})`,
    );
  }
  const floor = typeof meta.floor === 'string' ? `Raw-SQL floor: ${meta.floor}` : floorTable(meta.floor, meta.sizes.floorSeconds);
  const markdown = [
    ...header.map((h) => `${h}  `),
    '',
    summaryTable(rows),
    '',
    table(rows),
    '',
    curves(rows),
    floor,
    '',
    '"ductwork ÷ this" is ours ÷ theirs of the row\'s primary metric against the ductwork row of the same config',
    '(above 1 is better for steps/s; below 1 is better for latencies and idle transactions).',
    'Peers add the successor job outside the completion transaction (at-least-once); ductwork commits each move in one transaction.',
    '',
  ].join('\n');
  return { console: `${header.join('\n')}\n\n${table(rows)}\n\n${floor}`, markdown };
}
