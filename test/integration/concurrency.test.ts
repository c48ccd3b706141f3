import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DuctworkClient } from '../../src/client/client.js';
import type { Engine } from '../../src/runtime/engine.js';
import { attemptsOf } from '../helpers/attempts.js';
import { freshSchema, type TestSchema } from '../helpers/db.js';
import { startTestEngine } from '../helpers/engine.js';
import { spawnEngine, type EngineProcess } from '../helpers/spawn-engine.js';
import { ExclusivePipeline } from '../fixtures/pipelines.js';

let db: TestSchema;
let local: Engine;
let remote: EngineProcess;
let client: DuctworkClient;
const markDir = mkdtempSync(join(tmpdir(), 'ductwork-marks-'));

before(async () => {
  db = await freshSchema(import.meta.url);
  const options = { pipelines: ['ExclusivePipeline'], job_worker: { count: 8 } };
  [local, remote] = await Promise.all([startTestEngine(db, options), spawnEngine(db, options)]);
  client = new DuctworkClient({ sql: db.sql, schema: db.schema });
});
after(async () => {
  await Promise.all([local?.stop(), remote?.stop()]);
  await db?.drop();
  rmSync(markDir, { recursive: true, force: true });
});

test('two engine processes on one database never run the same claim twice', async () => {
  const rounds = 6;
  const perRound = 40;
  for (let round = 0; round < rounds; round++) {
    const dir = join(markDir, String(round));
    mkdirSync(dir);
    // Barrier: every pipeline of the round becomes claimable at once, while both engines poll.
    const handles = await Promise.all(Array.from({ length: perRound }, (_, n) => client.trigger(ExclusivePipeline, { dir, n })));
    await Promise.all(handles.map((h) => h.result({ timeoutMs: 60_000 })));
    const runIds = (await db.sql`select id from runs where pipeline_id in ${db.sql(handles.map((h) => h.id))}`).map((r) => r.id as string);
    const rows = await attemptsOf(db, runIds);
    assert.equal(rows.length, perRound * 3, 'three steps and one execution per step per pipeline: nothing ran or advanced twice');
    assert.ok(rows.every((r) => r.outcome === 'success'), 'no execution collided with another run of itself');
    assert.equal(new Set(rows.map((r) => r.step_id)).size, perRound * 3);
    const marks = readdirSync(dir);
    assert.equal(marks.length, perRound * 3, 'one mark per execution (each attempt has its own execution id)');
  }
  const [{ owners }] = await db.sql`select count(distinct process_id)::int as owners from steps`;
  assert.equal(owners, 2, 'both engines claimed work, so the claims really raced');
});
