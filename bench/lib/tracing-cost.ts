/**
 * The tracing cell (ductwork only): the throughput burn-down without an OpenTelemetry SDK and with
 * one registered in the engine's process (BENCH_OTEL=1: every trigger, attempt and advancement
 * makes a span, batched and dropped by a counting exporter), alternated `rounds` times so that
 * drift on a shared machine falls on both. Reports the median of each and their ratio.
 */
import { burnDown, type Cell, type Row } from './cells.js';
import { round } from './cell.js';
import type { Work } from './protocol.js';

export async function tracingCost(cell: Cell, sizes: { pipelines: number; capMs: number; rounds: number }): Promise<Row[]> {
  const work: Work = { kind: 'chain', pipelines: sizes.pipelines, keyPrefix: 't' };
  const runs: Record<'without' | 'with', Row[]> = { without: [], with: [] };
  for (let i = 0; i < sizes.rounds; i++) {
    for (const variant of ['without', 'with'] as const) {
      const env = variant === 'with' ? { ...cell.env, BENCH_OTEL: '1' } : cell.env;
      const [row] = await burnDown({ ...cell, env }, work, sizes.capMs);
      runs[variant].push(row!);
    }
  }
  const median = (rows: Row[]) => {
    const sorted = rows.map((r) => r.steps_per_s as number).sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  };
  const without = median(runs.without);
  const rows: Row[] = [];
  for (const variant of ['without', 'with'] as const) {
    const row = runs[variant].find((r) => r.steps_per_s === median(runs[variant]))!;
    Object.assign(row, {
      scenario: 'tracing',
      measure: variant === 'with' ? 'SDK registered' : 'no SDK',
      all_steps_per_s: runs[variant].map((r) => r.steps_per_s).join(' / '),
      ...(variant === 'with' ? { ratio_vs_no_sdk: round(median(runs.with) / without, 3) } : {}),
      notes: `median of ${sizes.rounds} alternated runs (${runs[variant].map((r) => r.steps_per_s).join(', ')} steps/s)`
        + (variant === 'with' ? `; ${round(median(runs.with) / without, 3)}× the throughput without an SDK` : ''),
    });
    rows.push(row);
  }
  return rows;
}
