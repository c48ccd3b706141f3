/**
 * History (issue 13): does the work already done slow down the work to do? Run on the private
 * server (autovacuum on). First the engine itself builds the history: `batches` × `batchPipelines`
 * 10-step chains triggered into a running engine, each batch once the one before has drained;
 * that build is also the `sustained` row (the drain rate of each batch should stay flat). The
 * database is then the template of the variants: the 1000 × 10 burn-down, with statistics taken
 * while it is pending and while nothing is (before it is queued), and a trigger → first step
 * probe at idle after it, on copies of the history and on empty databases.
 */
import postgres from 'postgres';
import { burnDown } from './cells.js';
import { base, finish, init, Probe, round, sleep, spawn, writesPerStep, type Cell, type Row, type Sql } from './cell.js';
import { rowWrites, schemaSizeMb, xacts } from './measure.js';
import { CHAIN_STEPS, type Work } from './protocol.js';

export interface HistorySizes {
  batches: number;
  batchPipelines: number;
  burnPipelines: number;
  latencyPipelines: number;
  capMs: number;
}

export async function history(cell: Cell, sizes: HistorySizes): Promise<Row[]> {
  const built = await build(cell, sizes);
  const rows: Row[] = [built.row];
  const { statsSchema } = built;
  const historySteps = sizes.batches * sizes.batchPipelines * CHAIN_STEPS;
  const variants = [
    { name: 'empty, analyzed while pending', from: undefined, analyze: 'pending' as const },
    { name: 'empty, analyzed while idle', from: undefined, analyze: 'idle' as const },
    { name: 'history, analyzed while pending', from: cell.db, analyze: 'pending' as const },
    { name: 'history, analyzed while idle', from: cell.db, analyze: 'idle' as const },
  ];
  for (const [n, variant] of variants.entries()) {
    const db = `${cell.db}_v${n}`;
    await cell.admin.unsafe(`drop database if exists ${db} with (force)`);
    await cell.admin.unsafe(variant.from ? `create database ${db} template ${variant.from} strategy file_copy` : `create database ${db}`);
    try {
      const at = { ...cell, db, dbUrl: cell.urlOf(db) };
      const work: Work = { kind: 'chain', pipelines: sizes.burnPipelines, keyPrefix: 'h' };
      const [row] = await burnDown(at, work, sizes.capMs, {
        analyze: variant.analyze, alsoUses: ['traced'], latencyAfter: { pipelines: sizes.latencyPipelines, capMs: 60_000 },
      });
      const empty = variant.from ? rows.find((r) => r.measure === `empty, analyzed while ${variant.analyze}` && r.status === 'ok') : undefined;
      Object.assign(row!, {
        measure: variant.name,
        completed_steps_before: variant.from ? historySteps : 0,
        ...(empty && typeof row!.steps_per_s === 'number' && typeof empty.steps_per_s === 'number'
          ? { vs_empty: round(row!.steps_per_s / empty.steps_per_s, 2), claim_p99_vs_empty: ratio(row!.claim_p99_ms, empty.claim_p99_ms) }
          : {}),
        ...(statsSchema && variant.from ? { history_size_mb: built.sizeMb } : {}),
        ...(cell.server ? { server: cell.server } : {}),
      });
      row!.metric = variant.from ? 'vs_empty' : 'steps_per_s';
      rows.push(row!);
    } finally {
      await cell.admin.unsafe(`drop database if exists ${db} with (force)`).catch(() => {});
    }
  }
  return rows;
}

function ratio(a: unknown, b: unknown): number | null {
  return typeof a === 'number' && typeof b === 'number' && b > 0 ? round(a / b, 2) : null;
}

/** The history build, measured as the sustained row: batch after batch into one running engine. */
async function build(cell: Cell, sizes: HistorySizes): Promise<{ row: Row; statsSchema: string | undefined; sizeMb: number | null }> {
  const { child, spec } = spawn(cell, ['chain'], `${cell.system}(history)`);
  try {
    const ready = await init(child, spec);
    const writes = ready.statsSchema ? { schema: ready.statsSchema, at: await rowWrites(cell.dbUrl, ready.statsSchema) } : undefined;
    const before = await xacts(cell.monitor, cell.db);
    child.send({ cmd: 'start' });
    await child.wait('started', 60_000, 'start');
    await sleep(1000);
    const probe = new Probe(child, cell.dbUrl, ready.remainingSql);
    const batches: { batch: number; steps_per_s: number | null; ms: number | null; enqueue_ms: number }[] = [];
    let capped = false;
    for (let b = 0; b < sizes.batches && !capped; b++) {
      const work: Work = { kind: 'chain', pipelines: sizes.batchPipelines, keyPrefix: `s${b}` };
      const t0 = performance.timeOrigin + performance.now();
      child.send({ cmd: 'enqueue', work, live: true });
      const { ms: enqueueMs } = await child.wait('enqueued', sizes.capMs, 'enqueue of a batch');
      const done = await probe.untilDone(Math.max(1000, sizes.capMs - (performance.timeOrigin + performance.now() - t0)));
      capped = done === undefined;
      const ms = (done ?? performance.timeOrigin + performance.now()) - t0;
      batches.push({ batch: b + 1, steps_per_s: done ? round((sizes.batchPipelines * CHAIN_STEPS) / (ms / 1000), 0) : null, ms: round(ms, 0), enqueue_ms: round(enqueueMs, 0)! });
    }
    const { commits, writes: written } = await finish(cell, child, probe, before, writes);
    const sizeMb = ready.statsSchema ? await sizeOf(cell, ready.statsSchema) : null;
    const steps = sizes.batches * sizes.batchPipelines * CHAIN_STEPS;
    const rates = batches.map((b) => b.steps_per_s).filter((r): r is number => r !== null);
    const row = base({ ...cell, scenario: 'sustained' }, ready.version, 'sustained_ratio', 'higher');
    Object.assign(row, {
      steps_per_s: rates.length ? round(steps / (batches.reduce((s, b) => s + (b.ms ?? 0), 0) / 1000), 0) : null,
      commits_per_step: round(commits / steps, 2),
      ...writesPerStep(written, steps),
      batches,
      batch_pipelines: sizes.batchPipelines,
      first_batch_steps_per_s: rates[0] ?? null,
      last_batch_steps_per_s: rates.at(-1) ?? null,
      min_batch_steps_per_s: rates.length ? Math.min(...rates) : null,
      sustained_ratio: rates.length > 1 ? round(rates.at(-1)! / rates[0]!, 2) : null,
      history_size_mb: sizeMb === null ? null : round(sizeMb, 0),
      ...(cell.server ? { server: cell.server } : {}),
    });
    if (capped) Object.assign(row, { status: 'capped', notes: `batch ${batches.length} not drained within ${sizes.capMs / 1000} s` });
    return { row, statsSchema: ready.statsSchema, sizeMb: sizeMb === null ? null : round(sizeMb, 0) };
  } finally {
    child.kill();
  }
}

async function sizeOf(cell: Cell, schema: string): Promise<number> {
  const sql = postgres(cell.dbUrl, { max: 1, fetch_types: false, onnotice: () => {} }) as unknown as Sql;
  try {
    return await schemaSizeMb(sql, schema);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
