/**
 * The raw-SQL floor: the pgbench scripts of reference/performance.md Appendix A (bench/floor/),
 * run against a scratch database so every report carries its own hardware calibration.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface FloorResult {
  script: string;
  steps_per_s: number | null;
  commits_per_step: number;
  error?: string;
}

/** Script, steps per pgbench transaction, commits per step. */
const SCRIPTS: [string, number, number][] = [
  ['claim2', 1, 2],
  ['batch10', 10, 0.2],
  ['chain1', 1, 1],
  ['checkpoint1', 1, 1],
];

export function pgbenchMissing(): string | undefined {
  const found = spawnSync('pgbench', ['--version'], { encoding: 'utf8' });
  if (found.error || found.status !== 0) return 'pgbench is not on PATH';
  if (spawnSync('psql', ['--version']).status !== 0) return 'psql is not on PATH';
  return undefined;
}

export function runFloor(conn: { host: string; port: string; user: string }, db: string, seconds: number): FloorResult[] {
  const dir = fileURLToPath(new URL('../../../bench/floor/', import.meta.url));
  const common = ['-h', conn.host, '-p', conn.port, '-U', conn.user];
  const results: FloorResult[] = [];
  for (const [script, stepsPerTx, commits] of SCRIPTS) {
    try {
      execFileSync('psql', [...common, '-q', '-v', 'ON_ERROR_STOP=1', '-f', `${dir}setup.sql`, db], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning' } });
      const out = execFileSync('pgbench', [...common, '-n', '-M', 'prepared', '-c', '8', '-j', '2', '-T', String(seconds), '-f', `${dir}${script}.sql`, db], {
        encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
      });
      const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1]);
      if (!Number.isFinite(tps)) throw new Error('no tps line in pgbench output');
      results.push({ script, steps_per_s: Math.round(tps * stepsPerTx), commits_per_step: commits });
    } catch (error) {
      results.push({ script, steps_per_s: null, commits_per_step: commits, error: String((error as { stderr?: string }).stderr ?? error).split('\n')[0] });
    }
  }
  return results;
}
