/** The dashboard's time-and-control parts over HTTP: a waiting pipeline's page shows the wait and sends its signal; cancel; schedules. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApprovalPipeline } from '../fixtures/time-pipelines.js';
import { serveDashboard } from '../helpers/dashboard.js';
import { testEngine } from '../helpers/engine.js';
import { waitFor } from '../helpers/wait.js';

const TIME_APP = new URL('../fixtures/time-pipelines.js', import.meta.url).href;
const { client } = await testEngine(import.meta.url, { app: TIME_APP });
const dashboard = await serveDashboard(client);
const base = dashboard.url.replace(/\/$/, '');
const get = (path: string) => fetch(base + path, { redirect: 'manual' });
const post = (action: string, fields: Record<string, string>) =>
  fetch(base + action.replace(base, ''), {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base },
    body: new URLSearchParams(fields).toString(),
  });

/** The CSRF token of the form on `page` that posts to a path ending with `suffix`. */
async function tokenFor(page: string, suffix: string): Promise<{ action: string; token: string }> {
  const text = await (await get(page)).text();
  for (const match of text.matchAll(/<form method="post" action="([^"]+)"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)">/g)) {
    if (match[1]!.endsWith(suffix)) return { action: match[1]!, token: match[2]! };
  }
  assert.fail(`no form posting to …${suffix} on ${page}`);
}

test("a waiting pipeline's page shows the wait, and its form delivers the signal", async () => {
  const handle = await client.trigger(ApprovalPipeline, { order: 'd-1' });
  await waitFor('the wait', async () => (await handle.status()).waiting.length > 0);
  const page = await (await get(`/pipelines/${handle.id}`)).text();
  assert.match(page, /waiting for <code>approved<\/code> after <strong>Submit<\/strong>/);
  const { action, token } = await tokenFor(`/pipelines/${handle.id}`, '/signal');
  const sent = await post(action, { csrf: token, event: 'approved', payload: '{"approvedBy":"dash"}' });
  assert.equal(sent.status, 303);
  assert.match(sent.headers.get('location')!, /notice=signalled/);
  assert.deepEqual(await handle.result({ timeoutMs: 15_000 }), { done: true, approvedBy: 'dash', escalated: null });
});

test('a bad signal payload is a 400; the cancel button cancels; schedules are listed', async () => {
  const handle = await client.trigger(ApprovalPipeline, { order: 'd-2' });
  await waitFor('the wait', async () => (await handle.status()).waiting.length > 0);
  const signal = await tokenFor(`/pipelines/${handle.id}`, '/signal');
  assert.equal((await post(signal.action, { csrf: signal.token, event: 'approved', payload: '{not json' })).status, 400);
  const cancel = await tokenFor(`/pipelines/${handle.id}`, '/cancel');
  const done = await post(cancel.action, { csrf: cancel.token, confirm: 'yes' });
  assert.equal(done.status, 303);
  assert.equal((await handle.status()).status, 'cancelled');
  const page = await (await get(`/pipelines/${handle.id}`)).text();
  assert.match(page, /data-status="cancelled"/);
  assert.match(page, /Revive pipeline/);
  const schedules = await get('/schedules');
  assert.equal(schedules.status, 200);
  assert.match(await schedules.text(), /No schedules/);
});
