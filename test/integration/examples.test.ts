import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { runToCompletion } from '../../src/testing/index.js';
import { testDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { EnrichAllUsersData } from '../../examples/enrichment.js';
import { NightlyEtl } from '../../examples/etl.js';

// The examples folder runs here, so it cannot rot.
const { db } = await testDatabase(import.meta.url);
const example = (name: string) => new URL(`../../examples/${name}`, import.meta.url);

test('the enrichment and ETL examples run to completion', async () => {
  const options = { databaseUrl: db.url, schema: db.schema, timeoutMs: 30_000 };
  const enriched = await runToCompletion(EnrichAllUsersData, { daysOutdated: 7 }, { ...options, app: example('enrichment.js') });
  assert.deepEqual(enriched.output, { enriched: 5, lines: ['1:notified', '2:notified', '3:notified', '4:flagged', '5:notified'] });
  const etl = await runToCompletion(NightlyEtl, { day: '2026-11-24' }, { ...options, app: example('etl.js') });
  assert.deepEqual(etl.output, { files: 3, rows: 600, amountCents: 750_000 });
});

test('the node:http example triggers over HTTP, reports status, and shuts down gracefully on SIGTERM', async () => {
  const server = spawn(process.execPath, [fileURLToPath(example('http-server.js'))], {
    env: { ...process.env, DATABASE_URL: db.url, DUCTWORK_SCHEMA: db.schema, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  server.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  server.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => server.once('exit', resolve));
  try {
    const base = (await waitFor('the server to listen', () => /listening on (http:\/\/\S+)/.exec(output)?.[1], 30_000)) as string;
    const accepted = await fetch(`${base}/enrich`, { method: 'POST' });
    assert.equal(accepted.status, 202);
    const { id } = (await accepted.json()) as { id: string };
    const report = await waitFor('the pipeline to complete', async () => {
      const body = (await (await fetch(`${base}/pipelines/${id}`)).json()) as { status: string; output?: unknown };
      return body.status === 'completed' ? body : undefined;
    }, 30_000);
    assert.deepEqual((report.output as { enriched: number }).enriched, 5);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    server.kill('SIGTERM');
    assert.equal(await exited, 0, output);
  } finally {
    server.kill('SIGKILL');
  }
});

test('the order-approval example waits for its signal or escalates, and declares its daily digest', async () => {
  const { OrderApproval, DailyDigest } = await import('../../examples/order-approval.js');
  const { Ductwork } = await import('../../src/runtime/engine.js');
  const { createLogger } = await import('../../src/log.js');
  const { DuctworkClient } = await import('../../src/client/client.js');
  const engine = await Ductwork.start({
    app: example('order-approval.js').href, log: createLogger('silent'), database: { url: db.url, schema: db.schema },
    job_worker: { polling_timeout: 0.05 }, pipeline_advancer: { polling_timeout: 0.05 },
  });
  const client = new DuctworkClient({ sql: db.sql, schema: db.schema });
  try {
    const order = await client.trigger(OrderApproval, { orderId: 'o-17', amountCents: 1200 }, { key: 'order-o-17' });
    await client.signal(order.id, 'approved', { approvedBy: 'ada' }, { key: 'approval-o-17' });
    const again = await client.signal({ pipeline: OrderApproval, key: 'order-o-17' }, 'approved', { approvedBy: 'ada' }, { key: 'approval-o-17' });
    assert.equal(again.outcome, 'duplicate');
    assert.deepEqual(await order.result({ timeoutMs: 20_000 }), { shipped: true, by: 'ada' });
    const unanswered = await client.trigger(OrderApproval, { orderId: 'o-18', amountCents: 5 });
    assert.deepEqual(await unanswered.result({ timeoutMs: 20_000 }), { shipped: false, escalated: 'o-18' });
    const [digest] = (await client.schedules()).filter((s) => s.pipeline === 'DailyDigest');
    assert.equal(digest!.cron, DailyDigest.schedules[0]!.cron);
    assert.equal(digest!.timezone, 'Europe/Paris');
    const paris = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit', hour12: false }).format(digest!.nextTickAt);
    assert.equal(paris, '08:00', 'the next digest is at 8:00 in Paris');
  } finally {
    await engine.stop();
  }
});
