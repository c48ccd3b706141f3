/**
 * Headless Chromium (Debian's, through playwright-core) drives every dashboard page and action
 * against a real engine running real pipelines in every state, and saves a screenshot of each
 * page to test-artifacts/dashboard/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { chromium, type Dialog, type Page } from 'playwright-core';
import {
  BigPayloadPipeline, ContextPipeline, EnrichAllUsersData, GatePipeline, HoldPipeline, TwoGatesPipeline,
} from '../fixtures/dashboard-pipelines.js';
import { attemptsOf } from '../helpers/attempts.js';
import { dashboardEngine, openGate, serveDashboard } from '../helpers/dashboard.js';
import { waitFor } from '../helpers/wait.js';

// Debian's Chromium, or the binary DUCTWORK_CHROMIUM names. Without one the tests are skipped,
// saying why and how to install it, except under CI, where a missing browser is a failure. (The
// body below stays at the top level of the file, unindented, inside the `else`.)
const CHROMIUM = process.env.DUCTWORK_CHROMIUM || '/usr/bin/chromium';
const NO_BROWSER = existsSync(CHROMIUM)
  ? undefined
  : `no Chromium at ${CHROMIUM}; install it with \`apt-get install chromium\` (Debian, Ubuntu) or set DUCTWORK_CHROMIUM to a Chromium binary`;
const IN_CI = Boolean(process.env.CI) && !['0', 'false'].includes(process.env.CI!.toLowerCase());
if (NO_BROWSER && IN_CI) throw new Error(`The dashboard browser tests need Chromium in CI: ${NO_BROWSER}.`);
if (NO_BROWSER) test('the dashboard in a real browser', { skip: NO_BROWSER }, () => {});
else {
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/dashboard/', import.meta.url));
mkdirSync(ARTIFACTS, { recursive: true });
const scratch = mkdtempSync(join(tmpdir(), 'ductwork-dashboard-'));
const releaseFile = join(scratch, 'release');

const { db, engine, client } = await dashboardEngine(import.meta.url);
const dashboard = await serveDashboard(client);
const url = (path: string) => dashboard.url.replace(/\/$/, '') + path;

// Pipelines in every state: completed, halted (one branch; two branches with an on-halt handler), in progress.
const enrich = await client.trigger(EnrichAllUsersData, { count: 3 });
const withContext = await client.trigger(ContextPipeline, { key: 'greeting', value: 7 });
const big = await client.trigger(BigPayloadPipeline, 20_000);
const gate = await client.trigger(GatePipeline, 5);
const twoGates = await client.trigger(TwoGatesPipeline, 2);
const hold = await client.trigger(HoldPipeline, { release: releaseFile });
await Promise.all([enrich, withContext, big, gate, twoGates].map((h) => h.wait({ timeoutMs: 30_000 })));
await waitFor('the held step to be running', async () =>
  (await db.sql`select 1 from jobs where klass = 'HoldOpen' and claimed_at is not null`).length);

const browser = await chromium.launchPersistentContext(join(scratch, 'profile'), {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1360, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
after(async () => {
  writeFileSync(releaseFile, ''); // never leave the held step waiting for its minute
  await browser.close();
  rmSync(scratch, { recursive: true, force: true });
});
const page: Page = browser.pages()[0] ?? (await browser.newPage());
const pageErrors: string[] = [];
page.on('pageerror', (error) => pageErrors.push(error.message));
page.on('console', (message) => {
  if (message.type() === 'error') pageErrors.push(message.text());
});

const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
const text = async (selector: string) => (await page.locator(selector).first().textContent())?.trim() ?? '';
/** Marks the document, so a later check can tell an in-place update from a reload. */
const markDocument = () => page.evaluate(() => ((globalThis as unknown as { marked: boolean }).marked = true));
const stillMarked = () => page.evaluate(() => (globalThis as unknown as { marked?: boolean }).marked === true);
/** The browser's document, typed as far as the checks below need it (this project compiles without the DOM library). */
type BrowserNode = { children: ArrayLike<BrowserNode>; textContent: string | null; cloneNode(deep: boolean): BrowserNode; querySelector(s: string): { remove(): void } | null };
type BrowserWindow = { document: { querySelector(s: string): { textContent: string | null } | null; querySelectorAll(s: string): { length: number } } };
/** Clicks a confirm-guarded button and answers its dialog. */
async function clickConfirmed(selector: string, answer: 'accept' | 'dismiss'): Promise<string> {
  const asked = new Promise<string>((resolve) => page.once('dialog', (dialog: Dialog) => {
    resolve(dialog.message());
    void (answer === 'accept' ? dialog.accept() : dialog.dismiss());
  }));
  await page.locator(selector).first().click();
  return asked;
}

test('overview: pipelines by status, the steps/s chart, failures and live processes, updated in place', async () => {
  await page.goto(url('/'));
  assert.equal(await text('[data-card="in_progress"] .n'), '1');
  assert.equal(await text('[data-card="completed"] .n'), '3');
  assert.equal(await text('[data-card="halted"] .n'), '2');
  assert.ok(Number(await text('[data-card="failing"] .n')) >= 3, 'three gates failed in the last hour');
  assert.ok((await page.locator('#overview-chart svg rect.ok').count()) >= 1, 'the chart has a bar for this minute');
  assert.match(await text('#overview-chart'), /steps in the last hour/);
  const row = page.locator(`tr[data-process="${engine.processId}"]`);
  assert.match((await row.textContent()) ?? '', new RegExp(`supervisor\\s*${hostname()}\\s*${process.pid}`));
  assert.match((await row.locator('td.fresh').textContent()) ?? '', /s ago$/);
  await shot('overview');

  await markDocument();
  await client.trigger(BigPayloadPipeline, 10);
  await page.waitForFunction(() => (globalThis as unknown as BrowserWindow).document.querySelector('[data-card="completed"] .n')?.textContent === '4', undefined, { timeout: 20_000 });
  assert.ok(await stillMarked(), 'updated without a reload');
});

test('pipelines: filtered by status, class and time, paginated, searched by id', async () => {
  await page.goto(url('/pipelines'));
  assert.equal(await page.locator('table.pipelines tbody tr').count(), 7);
  await page.selectOption('select[name="status"]', 'halted');
  await page.click('form.filters button[type="submit"]');
  await page.waitForURL(/status=halted/);
  const halted = await page.locator('table.pipelines tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-pipeline')));
  assert.deepEqual(halted.sort(), [gate.id, twoGates.id].sort());
  await page.selectOption('select[name="class"]', 'GatePipeline');
  await page.selectOption('select[name="since"]', '1h');
  await page.click('form.filters button[type="submit"]');
  await page.waitForURL(/class=GatePipeline/);
  assert.deepEqual(await page.locator('table.pipelines tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-pipeline'))), [gate.id]);
  await shot('pipelines-filtered');

  await page.goto(url('/pipelines'));
  await page.fill('input[name="q"]', hold.id.slice(0, 23));
  await page.click('form.filters button[type="submit"]');
  await page.waitForURL(/q=/);
  assert.deepEqual(await page.locator('table.pipelines tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-pipeline'))), [hold.id]);

  await page.goto(url('/pipelines?limit=3'));
  assert.ok(await page.locator('.pager span.off', { hasText: 'Newer' }).isVisible(), '← is disabled on the first page');
  const first = await page.locator('table.pipelines tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-pipeline')));
  await page.click('a[rel="next"]');
  await page.waitForURL(/page=1/);
  const second = await page.locator('table.pipelines tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-pipeline')));
  assert.equal(first.length, 3);
  assert.equal(second.length, 3);
  assert.equal(new Set([...first, ...second]).size, 6, 'pages do not overlap');
  await page.goto(url('/pipelines'));
  await shot('pipelines');
});

test('pipeline detail: the definition as a graph colored by step status, the steps with input, output and attempts', async () => {
  await page.goto(url(`/pipelines/${enrich.id}`));
  const states = await page.locator('#pipeline-graph a.node').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-state')));
  assert.equal(states.length, 10);
  assert.ok(states.every((s) => s === 'completed'), states.join());
  await shot('detail-completed');
  await page.click('#pipeline-graph a.node[data-node="LoadUserData.1"]');
  await page.waitForURL(/node=LoadUserData\.1/);
  const nodes = await page.locator('#pipeline-steps details.step').evaluateAll((steps) => steps.map((s) => s.getAttribute('data-node')));
  assert.deepEqual(nodes, ['LoadUserData.1', 'LoadUserData.1', 'LoadUserData.1']);
  await page.locator('#pipeline-steps details.step summary').first().click();
  const opened = page.locator('#pipeline-steps details.step[open]');
  assert.match((await opened.locator('pre.json').nth(1).textContent()) ?? '', /"name": "user-\d"/);
  assert.match((await opened.locator('table.attempts').textContent()) ?? '', /success/);

  await page.goto(url(`/pipelines/${twoGates.id}`));
  const state = (node: string) => page.locator(`#pipeline-graph a.node[data-node="${node}"]`).getAttribute('data-state');
  assert.equal(await state('Kickoff.1'), 'completed');
  assert.equal(await state('GateA.1'), 'failed');
  assert.equal(await state('GateB.1'), 'failed');
  assert.equal(await state('JoinGates.1'), 'pending');
  assert.equal(await state('$on_halt'), 'completed', 'the on-halt handler ran');
  assert.equal(await page.locator('#pipeline-branches tr[data-status="halted"]').count(), 2);
  await page.locator('#pipeline-steps details.step[data-node="GateA.1"] summary').click();
  const failed = page.locator('#pipeline-steps details.step[data-node="GateA.1"]');
  assert.match((await failed.locator('tr.error-row').textContent()) ?? '', /Error: gate a is closed/);
  assert.match((await failed.locator('pre.stack').textContent()) ?? '', /Error: gate a is closed\n\s+at /);
  await shot('detail-halted');

  await page.goto(url(`/pipelines/${withContext.id}`));
  assert.match(await text('#pipeline-context tr[data-key="greeting"]'), /"value": 8/);

  await page.goto(url(`/pipelines/${big.id}`));
  assert.match(await text('#pipeline-head .truncated'), /Truncated: showing 2,000 of 20,0\d\d characters/);
  const raw = await page.locator('#pipeline-head .truncated a').getAttribute('href');
  await page.goto(url(raw!));
  assert.equal((JSON.parse((await page.locator('body').textContent()) ?? '') as { blob: string }).blob.length, 20_000);
});

test('an in-progress pipeline: live, with a cancel button and no revive; it updates in place when it completes', async () => {
  await page.goto(url(`/pipelines/${hold.id}`));
  assert.equal(await page.locator('#pipeline-head .pill').first().getAttribute('data-status'), 'in_progress');
  assert.equal(await page.locator('#pipeline-graph a.node[data-node="HoldOpen.1"]').getAttribute('data-state'), 'running');
  assert.equal(await page.locator('button', { hasText: /revive/i }).count(), 0, 'a running pipeline cannot be revived');
  assert.equal(await page.locator('button', { hasText: /^Cancel pipeline$/ }).count(), 1, 'it can be cancelled');
  await page.locator('#pipeline-steps details.step summary').first().click();
  await shot('detail-running');
  await markDocument();
  writeFileSync(releaseFile, '');
  await page.waitForSelector('#pipeline-head [data-status="completed"]', { timeout: 20_000 });
  await page.waitForSelector('#pipeline-graph a.node[data-node="Done.1"][data-state="completed"]', { timeout: 20_000 });
  assert.ok(await stillMarked(), 'updated without a reload');
  assert.equal(await page.locator('#pipeline-steps details.step[open]').count(), 1, 'an opened step stays open across updates');
});

test('step errors: recent failures grouped by step and message, with the stack', async () => {
  await page.goto(url('/errors'));
  // Each group row's pipeline, step, error (without its folded stack) and count.
  const rows = await page.locator('table.error-groups tbody tr').evaluateAll((trs) =>
    trs.map((tr) => Array.from((tr as unknown as BrowserNode).children).slice(0, 4).map((td) => {
      const copy = td.cloneNode(true);
      copy.querySelector('details')?.remove();
      return copy.textContent?.replace(/\s+/g, ' ').trim();
    })));
  for (const expected of [
    ['GatePipeline', 'GateA GateA.1', 'failure Error: gate a is closed', '1'],
    ['TwoGatesPipeline', 'GateA GateA.1', 'failure Error: gate a is closed', '1'],
    ['TwoGatesPipeline', 'GateB GateB.1', 'failure Error: gate b is closed', '1'],
  ]) assert.ok(rows.some((row) => JSON.stringify(row) === JSON.stringify(expected)), `${expected.join(' | ')} in ${JSON.stringify(rows)}`);
  await page.locator('table.error-groups tbody tr[data-group="GateB"] details summary').click();
  assert.match(await text('table.error-groups tbody tr[data-group="GateB"] pre.stack'), /^Error: gate b is closed\n\s+at /);
  await shot('errors');
  await page.click('table.error-groups tbody tr[data-group="GateB"] a');
  await page.waitForURL(new RegExp(`/pipelines/${twoGates.id}\\?run=.*node=GateB\\.1`));
});

test('processes: role, host, pid, threads, work in flight and heartbeat age', async () => {
  await page.goto(url('/processes'));
  const row = page.locator(`tr[data-process="${engine.processId}"]`);
  const cells = await row.locator('td').evaluateAll((tds) => tds.map((td) => td.textContent?.trim()));
  const [{ threads }] = await db.sql`select threads from processes where id = ${engine.processId}`;
  assert.ok(threads >= 1, 'the engine registered its worker threads');
  assert.deepEqual(cells.slice(0, 4), ['supervisor', hostname(), String(process.pid), String(threads)]);
  assert.match(cells[7] ?? '', /^\d+ ms ago$|^\d+\.\d s ago$/);
  await shot('processes');
});

test('a halted pipeline revived from the dashboard completes', async () => {
  await page.goto(url(`/pipelines/${gate.id}`));
  const question = await clickConfirmed('#pipeline-head button:has-text("Revive pipeline")', 'dismiss');
  assert.match(question, new RegExp(`Revive pipeline ${gate.id}`));
  const runsAfterDismiss = await db.sql`select 1 from runs where pipeline_id = ${gate.id}`;
  assert.equal(runsAfterDismiss.length, 1, 'dismissing the confirmation does nothing');

  await openGate(db, gate.id, 'a'); // the operator fixed the cause
  await clickConfirmed('#pipeline-head button:has-text("Revive pipeline")', 'accept');
  await page.waitForURL(/notice=revived/);
  assert.match(await text('[data-notice="revived"]'), /Revived: a new run is in progress/);
  await markDocument();
  await page.waitForSelector('#pipeline-head [data-status="completed"]', { timeout: 20_000 });
  assert.ok(await stillMarked(), 'the page followed the run live');
  assert.deepEqual(await gate.result({ timeoutMs: 1000 }), { done: { gate: 'a', n: 5 } });
  assert.equal(await page.locator('#pipeline-runs tr[data-run]').count(), 2);
  await shot('revived');
});

test('retrying one halted branch runs only that branch; the other stays halted until it is retried too', async () => {
  await page.goto(url(`/pipelines/${twoGates.id}`));
  await openGate(db, twoGates.id, 'a');
  const question = await clickConfirmed('#pipeline-branches tr:has-text("GateA.1") button:has-text("Retry branch")', 'accept');
  assert.match(question, /Only this branch runs again/);
  await page.waitForURL(/notice=retried/);
  // The new run halts again: GateB is still halted.
  await page.waitForFunction(() => (globalThis as unknown as BrowserWindow).document.querySelectorAll('#pipeline-runs tr[data-run] [data-status="halted"]').length === 2, undefined, { timeout: 20_000 });
  const [second] = await db.sql`select id from runs where pipeline_id = ${twoGates.id} order by started_at desc limit 1`;
  const attemptsInRun = await attemptsOf(db, second!.id as string);
  const branches = await db.sql`
    select b.status, b.halt_reason, s.id, s.klass, s.status as step_status
    from branches b join step_view s on s.branch_id = b.id
    where b.run_id = ${second!.id} and s.klass in ('GateA', 'GateB') order by s.klass`;
  const attempts = (stepId: string) => attemptsInRun.filter((a) => a.step_id === stepId).length;
  assert.deepEqual(branches.map((b) => [b.klass, b.status, b.halt_reason, b.step_status, attempts(b.id)]), [
    ['GateA', 'completed', null, 'completed', 1],
    ['GateB', 'halted', 'job_retries_exhausted', 'failed', 0],
  ]);
  await page.waitForSelector('#pipeline-graph a.node[data-node="GateA.1"][data-state="completed"]');
  await shot('branch-retried');

  await openGate(db, twoGates.id, 'b');
  await clickConfirmed('#pipeline-branches tr:has-text("GateB.1") button:has-text("Retry branch")', 'accept');
  await page.waitForURL(/notice=retried/);
  await page.waitForSelector('#pipeline-head [data-status="completed"]', { timeout: 20_000 });
  assert.deepEqual(await twoGates.result({ timeoutMs: 1000 }), { gates: ['a', 'b'], total: 4 });
  const runIds = (await db.sql`select id from runs where pipeline_id = ${twoGates.id}`).map((r) => r.id as string);
  const gateA = (await attemptsOf(db, runIds, 'GateA')).length;
  assert.equal(gateA, 2, 'GateA ran once in the first run and once when retried, not again for GateB');
  await shot('completed-after-retries');
});

test('no page raised a script error', () => {
  assert.deepEqual(pageErrors, []);
});
} // the else of NO_BROWSER
