/**
 * Claims left open at shutdown: the engine re-enqueues them and logs how many it actually ended,
 * never "count 0" nor a count that includes claims that moved on meanwhile. A claim that cannot
 * be ended is made here with a trigger that skips every write to its row (as if it finished in
 * the gap between reading the open claims and ending them).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { freshSchema } from '../helpers/db.js';
import { startTestEngine } from '../helpers/engine.js';
import { recordingLogger } from '../helpers/recording-log.js';

const db = await freshSchema(import.meta.url);
after(() => db.drop());

async function claimedGhost(processId: string, klass: string): Promise<void> {
  await db.sql`insert into definitions (sha1, graph) values ('ghost', '{}') on conflict do nothing`;
  const [p] = await db.sql`insert into pipelines (id, klass, status) values (uuidv7(), ${klass}, 'in_progress') returning id`;
  const [r] = await db.sql`insert into runs (id, pipeline_id, pipeline_klass, definition_sha1, status, triggered_at, started_at)
                           values (uuidv7(), ${p!.id}, ${klass}, 'ghost', 'in_progress', now(), now()) returning id`;
  await db.sql`insert into jobs (kind, pipeline_klass, pipeline_id, run_id, definition_sha1, step_id, node, klass, to_transition, input,
                                 idempotency_key, run_at, claimed_at, claim_token, process_id)
               values ('run', ${klass}, ${p!.id}, ${r!.id}, 'ghost', gen_random_uuid(), 'n', ${klass}, 'start', 'null', gen_random_uuid(), now(),
                       now(), gen_random_uuid(), ${processId})`;
}

test('at shutdown the engine counts only the leftover claims it ended, and says nothing when it ended none', async () => {
  await db.sql.unsafe(`
    create function "${db.schema}".skip_write() returns trigger language plpgsql as $$ begin return null; end $$;
    create trigger frozen before update or delete on "${db.schema}".jobs for each row when (old.klass = 'Frozen') execute function "${db.schema}".skip_write();`);
  const log = recordingLogger();
  const engine = await startTestEngine(db, { log });
  await claimedGhost(engine.processId, 'Frozen');
  await claimedGhost(engine.processId, 'Leftover');
  await engine.stop();
  const lines = log.lines.filter((l) => l.message === 'Re-enqueued claims left open at shutdown');
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.fields.count, 1, 'the frozen claim was not ended, so it is not counted');
  const [left] = await db.sql`select count(*)::int as n from jobs where klass = 'Leftover' and claimed_at is null`;
  assert.equal(left!.n, 1, 'the leftover claim was released for a re-run');

  const quiet = recordingLogger();
  const second = await startTestEngine(db, { log: quiet });
  await claimedGhost(second.processId, 'Frozen');
  await second.stop();
  assert.equal(quiet.lines.filter((l) => l.message.startsWith('Re-enqueued claims')).length, 0, 'no "count 0" line');
});
