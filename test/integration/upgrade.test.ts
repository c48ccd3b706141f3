import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import postgres from 'postgres';
import { DuctworkClient } from '../../src/client/client.js';
import { connect } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrate.js';
import { createLogger } from '../../src/log.js';
import { Ductwork } from '../../src/runtime/engine.js';
import { DATABASE_URL } from '../helpers/db.js';

// A database of migrations 001–003 holding runs that the engine of that schema left in flight
// (test/fixtures/upgrade/state-003.sql, made by generate-003.ts on that engine): migrated in place,
// every one of them completes on this engine.
const schema = `t_upgrade_${process.pid}`;
const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
await admin.unsafe(`drop schema if exists "${schema}" cascade`);
const sql = connect({ url: DATABASE_URL, schema, max: 4, applicationName: 'ductwork-test' });
const gateDir = mkdtempSync(join(tmpdir(), 'ductwork-upgrade-'));
after(async () => {
  await sql.unsafe(`drop schema if exists "${schema}" cascade`);
  await sql.end({ timeout: 5 });
  await admin.end();
  rmSync(gateDir, { recursive: true, force: true });
});

test('runs in flight on the schema of migrations 001-003 complete after migrating', async () => {
  await migrate(sql, schema, { to: '003_dashboard' });
  const state = readFileSync(new URL('../../../test/fixtures/upgrade/state-003.sql', import.meta.url), 'utf8');
  await sql.unsafe(state.replaceAll(':"schema"', `"${schema}"`));
  const before = await sql`select id, klass, status from pipelines order by created_at, id`;
  assert.ok(before.filter((p) => p.status === 'in_progress').length >= 10, 'the fixture holds runs in flight');

  const applied = await migrate(sql, schema);
  assert.ok(applied.includes('004_narrow_queue'), `applied ${applied.join(', ')}`);
  // What was in flight became jobs: the dead engine's claims released, unrouted steps handed to the advancer.
  const jobs = await sql`select kind, claimed_at from jobs`;
  assert.ok(jobs.some((j) => j.kind === 'run') && jobs.some((j) => j.kind === 'advance'));
  assert.ok(jobs.every((j) => j.claimed_at === null));

  const gate = join(gateDir, 'open');
  writeFileSync(gate, '');
  process.env.DUCTWORK_UPGRADE_GATE = gate;
  const engine = await Ductwork.start({
    app: new URL('../fixtures/upgrade/pipelines.js', import.meta.url).href,
    log: createLogger((process.env.DUCTWORK_TEST_LOG as 'debug') ?? 'silent'),
    database: { url: DATABASE_URL, schema },
    job_worker: { threads: 2, polling_timeout: 0.05, retry_backoff: { initial: 0.05, multiplier: 1, jitter: 0 } },
    pipeline_advancer: { polling_timeout: 0.05 },
    supervisor: { polling_timeout: 0.2 },
  });
  try {
    const client = new DuctworkClient({ sql, schema });
    const expected: Record<string, unknown[]> = {
      // Seed n, Hold n + 1, then + 10 twice; the last one was never claimed by the old engine.
      UpgradeChain: [21, 22, 23, 61],
      UpgradeRetry: [111],
      // Count n, every element doubled + 10, summed: the even members had arrived before the upgrade.
      UpgradeExpand: [90, 22, 36],
      UpgradeDivide: [{ a: 15, b: 6 }, { a: 19, b: 10 }],
    };
    for (const [klass, outputs] of Object.entries(expected)) {
      const ids = before.filter((p) => p.klass === klass && p.status === 'in_progress').map((p) => p.id as string);
      const results = await Promise.all(ids.map((id) => client.result(id, { timeoutMs: 30_000 })));
      assert.deepEqual(results, outputs, klass);
    }
    // The halted run of the old schema revives on the new engine, keeping its completed step.
    const [halted] = before.filter((p) => p.klass === 'UpgradeHalt');
    assert.equal(halted!.status, 'halted');
    await client.revive(halted!.id as string);
    assert.equal(await client.result(halted!.id as string, { timeoutMs: 30_000 }), 117);
    const [{ open }] = await sql`select count(*)::int as open from pipelines where status = 'in_progress'`;
    assert.equal(open, 0);
  } finally {
    await engine.stop();
    delete process.env.DUCTWORK_UPGRADE_GATE;
  }
});
