/**
 * Recovery after `kill -9`: an engine process holding many running steps is SIGKILLed; a
 * surviving engine at default settings must re-claim them. Prints the time to the first and the
 * last re-claim and to all pipelines done, and checks nothing was lost.
 *
 *   npm run build && node dist/bench/recovery.js        (uses DATABASE_URL or the local server)
 */
import { fork } from 'node:child_process';
import { Ductwork, DuctworkClient, connect, migrate } from '../src/index.js';
import { WaitPipeline } from './pipelines.js';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const app = new URL('./pipelines.js', import.meta.url).href;
const STEPS = Number(process.env.BENCH_STEPS ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

if (process.argv[2] === 'victim') {
  const engine = await Ductwork.start({ app, pipelines: ['WaitPipeline'], database: { url, schema: process.argv[3] }, job_worker: { count: STEPS }, logger: { level: 'error' } });
  process.send?.({ processId: engine.processId });
} else {
  const results: { first: number; all: number; done: number }[] = [];
  for (let round = 0; round < ROUNDS; round++) results.push(await measure(`bench_recovery_${process.pid}_${round}`));
  const median = (key: 'first' | 'all' | 'done') => results.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(results.length / 2)]!;
  console.log(`recovery after kill -9 with ${STEPS} steps in flight, ${ROUNDS} rounds (median):`);
  console.log(`  first re-claim ${median('first')} ms, all re-claimed ${median('all')} ms, all pipelines done ${median('done')} ms, lost 0`);
}

async function measure(schema: string): Promise<{ first: number; all: number; done: number }> {
  const admin = connect({ url, schema, max: 2 });
  await admin.unsafe(`drop schema if exists "${schema}" cascade`);
  await migrate(admin, schema);
  const client = new DuctworkClient({ sql: admin, schema });
  const victim = fork(new URL(import.meta.url), ['victim', schema], { stdio: 'inherit' });
  const victimId = await new Promise<string>((resolve) => victim.once('message', (m: { processId: string }) => resolve(m.processId)));
  const handles = await Promise.all(Array.from({ length: STEPS }, () => client.trigger(WaitPipeline, { ms: 3000 })));
  const held = async (owner: string) =>
    Number((await admin`select count(*) as n from executions where process_id = ${owner} and completed_at is null and claimed_at is not null`)[0]!.n);
  for (let i = 0; i < 400 && (await held(victimId)) < STEPS; i++) await sleep(25);
  const inVictim = await held(victimId);
  // The survivor runs with every default timing (1 s heartbeat, reaper and polling).
  const survivor = await Ductwork.start({ app, pipelines: ['WaitPipeline'], database: { url, schema }, job_worker: { count: STEPS }, logger: { level: 'error' } });
  try {
    victim.kill('SIGKILL');
    const killed = performance.now();
    let first = 0;
    for (;;) {
      const reclaimed = Number((await admin`
        select count(*) as n from executions e where e.process_id = ${survivor.processId} and e.crash_count > 0`)[0]!.n);
      if (reclaimed > 0 && first === 0) first = Math.round(performance.now() - killed);
      if (reclaimed >= inVictim) break;
      await sleep(10);
    }
    const all = Math.round(performance.now() - killed);
    const reports = await Promise.all(handles.map((h) => h.wait({ timeoutMs: 120_000 })));
    const done = Math.round(performance.now() - killed);
    const lost = reports.filter((r) => r.status !== 'completed').length;
    if (lost > 0) throw new Error(`${lost} pipelines did not complete`);
    console.log(`  round: ${inVictim} steps held by the victim; first re-claim ${first} ms, all ${all} ms, done ${done} ms`);
    return { first, all, done };
  } finally {
    await survivor.stop();
    await admin.unsafe(`drop schema if exists "${schema}" cascade`);
    await client.close();
    await admin.end();
  }
}

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
