/**
 * Retention (issue 13): `steps` no-op chain steps streamed through an engine that keeps completed
 * and halted pipelines one minute, on the private server (autovacuum on). The runner keeps
 * about `depthPipelines` pipelines unfinished by triggering `batchPipelines` more whenever fewer
 * remain, samples the total size of the engine's schema (tables + indexes + TOAST) every
 * `sampleMs`, and goes on sampling for `tailMs` after the last step. An engine that rejects the
 * retention keys is reported n/a; the stream then runs without them, as the before picture.
 */
import postgres from 'postgres';
import { base, finish, init, Probe, round, sleep, spawn, writesPerStep, type Cell, type Row, type Sql } from './cell.js';
import { rowWrites, schemaSizeMb, xacts } from './measure.js';
import { CHAIN_STEPS, type Spec } from './protocol.js';

export interface RetentionSizes {
  steps: number;
  batchPipelines: number;
  depthPipelines: number;
  sampleMs: number;
  tailMs: number;
  capMs: number;
}

/** The keep-times under test: one minute for completed and halted pipelines, a cleaner pass every 10 s. */
export const RETENTION: NonNullable<Spec['retention']> = { completed: '1m', halted: '1m', interval: 10 };

interface Sample {
  t_s: number;
  size_mb: number;
  steps_done: number;
}

export async function retention(cell: Cell, sizes: RetentionSizes): Promise<Row[]> {
  let { child, spec } = spawn(cell, ['chain'], cell.system, { retention: RETENTION });
  let ready = await init(child, spec);
  const unsupported = ready.unsupported;
  if (unsupported) {
    // Measure the same stream without the keys: how the schema grows with no retention at all.
    child.kill();
    ({ child, spec } = spawn(cell, ['chain'], cell.system));
    ready = await init(child, spec);
  }
  const sampler = postgres(cell.dbUrl, { max: 1, fetch_types: false, onnotice: () => {} }) as unknown as Sql;
  let samplerQueries = 0;
  try {
    const schema = ready.statsSchema;
    const writes = schema ? { schema, at: await rowWrites(cell.dbUrl, schema) } : undefined;
    const before = await xacts(cell.monitor, cell.db);
    child.send({ cmd: 'start' });
    await child.wait('started', 60_000, 'start');
    const probe = new Probe(child, cell.dbUrl, ready.remainingSql);
    const t0 = performance.now();
    const samples: Sample[] = [];
    const total = Math.ceil(sizes.steps / CHAIN_STEPS);
    let triggered = 0;
    let unfinished = 0;
    const sample = async () => {
      if (!schema) return;
      samplerQueries++;
      const size = await schemaSizeMb(sampler, schema);
      samples.push({ t_s: round((performance.now() - t0) / 1000, 1)!, size_mb: round(size, 1)!, steps_done: Math.max(0, triggered - unfinished) * CHAIN_STEPS });
    };
    await sample();
    let sampling = Promise.resolve();
    const timer = setInterval(() => (sampling = sampling.then(sample).catch(() => {})), sizes.sampleMs);
    let capped = false;
    let streamedAt: number | undefined;
    try {
      const deadline = t0 + sizes.capMs;
      while (performance.now() < deadline) {
        unfinished = await probe.remaining();
        if (triggered >= total && unfinished === 0) break;
        if (triggered < total && unfinished < sizes.depthPipelines) {
          const pipelines = Math.min(sizes.batchPipelines, total - triggered);
          child.send({ cmd: 'enqueue', work: { kind: 'chain', pipelines, keyPrefix: `t${triggered}` }, live: true });
          await child.wait('enqueued', sizes.capMs, 'enqueue of a batch');
          triggered += pipelines;
        } else {
          await sleep(100);
        }
      }
      capped = !(triggered >= total && unfinished === 0);
      streamedAt = performance.now();
      if (!capped) await sleep(sizes.tailMs);
    } finally {
      clearInterval(timer);
      await sampling;
    }
    await sample();
    await sampler.end({ timeout: 5 });
    const streamSeconds = ((streamedAt ?? performance.now()) - t0) / 1000;
    const { commits, writes: written } = await finish(cell, child, probe, before, writes);
    const steps = (triggered - (capped ? unfinished : 0)) * CHAIN_STEPS;
    const during = samples.filter((s) => s.t_s <= streamSeconds);
    const half = during.find((s) => s.steps_done >= steps / 2);
    const atEnd = during.at(-1);
    const row = base(cell, ready.version, 'max_size_mb', 'lower');
    Object.assign(row, {
      steps_per_s: round(steps / streamSeconds, 0),
      commits_per_step: round((commits - samplerQueries) / Math.max(1, steps), 2),
      ...writesPerStep(written, steps),
      steps,
      retention: unsupported ? null : RETENTION,
      stream_s: round(streamSeconds, 0),
      max_size_mb: samples.length ? Math.max(...samples.map((s) => s.size_mb)) : null,
      size_at_half_mb: half?.size_mb ?? null,
      size_at_end_mb: atEnd?.size_mb ?? null,
      size_after_tail_mb: samples.at(-1)?.size_mb ?? null,
      growth_second_half_mb: half && atEnd ? round(atEnd.size_mb - half.size_mb, 1) : null,
      samples,
      ...(cell.server ? { server: cell.server } : {}),
    });
    if (unsupported) Object.assign(row, { status: 'n/a', notes: `n/a: ${unsupported}; the curve is the same stream without retention` });
    else if (capped) Object.assign(row, { status: 'capped', notes: `capped at ${sizes.capMs / 1000} s: ${steps} of ${total * CHAIN_STEPS} steps` });
    return [row];
  } finally {
    child.kill();
    await sampler.end({ timeout: 5 }).catch(() => {});
  }
}
