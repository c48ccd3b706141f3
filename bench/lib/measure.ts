/**
 * What the runner reads from outside the system under test: the child's CPU and memory from
 * /proc (utime + stime cover all its threads), and the database's commit counters from
 * pg_stat_database through a monitoring connection to the `postgres` database (so monitoring
 * never counts against the system's own database).
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import postgres from 'postgres';

const TICK_MS = 1000 / Number(tryExec('getconf', ['CLK_TCK']) ?? 100);

function tryExec(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** CPU time (user + system, all threads) of a process in ms, or undefined once it is gone. */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}

/** Resident set size now and its high-water mark, in MB. */
export function memoryMb(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

type Sql = postgres.Sql<Record<string, never>>;

export async function xacts(monitor: Sql, db: string): Promise<{ commit: number; rollback: number }> {
  const [row] = await monitor`select xact_commit::float8 as commit, xact_rollback::float8 as rollback from pg_stat_database where datname = ${db}`;
  return { commit: Number(row?.commit ?? 0), rollback: Number(row?.rollback ?? 0) };
}

/** Waits until no session is connected to `db` (exiting backends flush their statistics). */
export async function backendsGone(monitor: Sql, db: string, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    const [row] = await monitor`select count(*)::int as n from pg_stat_activity where datname = ${db} and pid <> pg_backend_pid()`;
    if (row!.n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
}

/**
 * Samples every 250 ms while a window is open: the child's peak RSS, and the CPU of the
 * database's backends (each backend's CPU since the window opened or since it appeared).
 */
export class Sampler {
  #timer: NodeJS.Timeout | undefined;
  #pgBase = new Map<number, number>();
  #pgLast = new Map<number, number>();
  peakRssMb = 0;

  constructor(readonly monitor: Sql, readonly db: string, readonly pid: number) {}

  async open(): Promise<void> {
    this.peakRssMb = memoryMb(this.pid)?.rss ?? 0;
    for (const pid of await this.#backends()) {
      const cpu = cpuMs(pid);
      if (cpu !== undefined) this.#pgBase.set(pid, cpu);
    }
    this.#timer = setInterval(() => void this.sample(), 250);
  }

  async sample(): Promise<void> {
    const mem = memoryMb(this.pid);
    if (mem) this.peakRssMb = Math.max(this.peakRssMb, mem.rss);
    for (const pid of await this.#backends().catch(() => [])) {
      const cpu = cpuMs(pid);
      if (cpu === undefined) continue;
      if (!this.#pgBase.has(pid)) this.#pgBase.set(pid, 0);
      this.#pgLast.set(pid, cpu);
    }
  }

  /** Closes the window; returns the backends' CPU ms spent inside it. */
  async close(): Promise<number> {
    clearInterval(this.#timer);
    await this.sample();
    let total = 0;
    for (const [pid, last] of this.#pgLast) total += last - (this.#pgBase.get(pid) ?? 0);
    return total;
  }

  async #backends(): Promise<number[]> {
    const rows = await this.monitor`select pid from pg_stat_activity where datname = ${this.db} and backend_type = 'client backend'`;
    return rows.map((r) => r.pid as number);
  }
}

/** Cumulative row counters of one schema's tables (pg_stat_user_tables), summed. */
export interface RowWrites {
  ins: number;
  upd: number;
  del: number;
  hot: number;
}

/**
 * The schema's row counters, read on a connection of its own to the cell's database (the view is
 * per database). Backends publish their counters at most once a second and at exit, so read it
 * after the system's backends have gone.
 */
export async function rowWrites(url: string, schema: string): Promise<RowWrites> {
  const sql = postgres(url, { max: 1, fetch_types: false, onnotice: () => {} });
  try {
    const [row] = await sql`
      select coalesce(sum(n_tup_ins), 0)::float8 as ins, coalesce(sum(n_tup_upd), 0)::float8 as upd,
             coalesce(sum(n_tup_del), 0)::float8 as del, coalesce(sum(n_tup_hot_upd), 0)::float8 as hot
      from pg_stat_user_tables where schemaname = ${schema}`;
    return { ins: Number(row!.ins), upd: Number(row!.upd), del: Number(row!.del), hot: Number(row!.hot) };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Total size of the schema's tables with their indexes and TOAST (sum of pg_total_relation_size), in MB. */
export async function schemaSizeMb(sql: Sql, schema: string): Promise<number> {
  const [row] = await sql`
    select coalesce(sum(pg_total_relation_size(c.oid)), 0)::float8 as bytes
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relkind in ('r', 'p', 'm')`;
  return Number(row!.bytes) / 2 ** 20;
}
