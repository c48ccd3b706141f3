/**
 * The dashboard over plain HTTP: hostile parameters are 400s, forged or cross-site POSTs are
 * 403s, authentication is enforced where it must be, and large payloads are cut with a raw link.
 */
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { createDashboard } from '../../src/dashboard/handler.js';
import { listenDashboard } from '../../src/dashboard/listen.js';
import type { DuctworkError } from '../../src/errors.js';
import { BigPayloadPipeline, GatePipeline, HoldPipeline } from '../fixtures/dashboard-pipelines.js';
import { dashboardEngine, openGate, serveDashboard } from '../helpers/dashboard.js';

const { db, client } = await dashboardEngine(import.meta.url);
const dashboard = await serveDashboard(client);
const base = dashboard.url.replace(/\/$/, '');

const halted = await client.trigger(GatePipeline, 1);
const big = await client.trigger(BigPayloadPipeline, 60_000);
const running = await client.trigger(HoldPipeline, { release: '/nonexistent/never' });
await halted.wait({ timeoutMs: 20_000 });
await big.wait({ timeoutMs: 20_000 });

const get = (path: string, init: RequestInit = {}) => fetch(base + path, { redirect: 'manual', ...init });
const ENTITIES: Record<string, string> = { '&quot;': '"', '&#39;': "'", '&lt;': '<', '&gt;': '>', '&amp;': '&' };
const errorOf = async (response: Response) =>
  (/data-error-status="\d+">([^<]*)</.exec(await response.text())?.[1] ?? '').replace(/&(quot|#39|lt|gt|amp);/g, (e) => ENTITIES[e]!);

/** A page's first CSRF token and the action it is for. */
async function formOf(path: string): Promise<{ action: string; token: string }> {
  const text = await (await get(path)).text();
  const match = /<form method="post" action="([^"]+)"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)">/.exec(text);
  assert.ok(match, `a form on ${path}`);
  return { action: match[1]!, token: match[2]! };
}

function post(action: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(base + action.replace(base, ''), {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base, ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

describe('hostile parameters are refused with 400, never a 500', () => {
  const cases: [string, RegExp][] = [
    ['/pipelines?page=1e309', /page: must be a whole number from 0 to 10000/],
    ['/pipelines?page=-1', /page: must be a whole number/],
    ['/pipelines?page=99999999999999999999', /page: must be a whole number/],
    ["/pipelines?status=';drop table pipelines;--", /status: must be one of in_progress, completed, halted/],
    ["/pipelines?class=x' or '1'='1", /class: must be a class or node name/],
    ['/pipelines?limit=1000000', /limit: must be a whole number from 1 to 200/],
    ['/pipelines?limit=0', /limit: must be a whole number from 1 to 200/],
    ['/pipelines?since=forever', /since: must be one of 15m, 1h/],
    ['/pipelines?q=zzzz', /q: must be an id or the start of one/],
    ['/pipelines?page=1&page=2', /page: given more than once/],
    ['/pipelines?sort=id;delete', /Unknown query parameter "sort"/],
    ['/pipelines/not-a-uuid', /pipeline id: must be a UUID/],
    ["/pipelines/00000000-0000-0000-0000-00000000000'", /pipeline id: must be a UUID/],
    ['/pipelines/%E0%A4%A', /pipeline id: must be a UUID/],
    [`/pipelines/${'0'.repeat(5000)}`, /pipeline id: must be a UUID/],
    ['/pipelines/00000000-0000-7000-8000-000000000000?run=1', /run: must be a UUID/],
    ['/pipelines/00000000-0000-7000-8000-000000000000?spage=1e9', /spage: must be a whole number/],
    ['/errors?since=1h;select', /since: must be one of/],
    ['/errors?limit=9007199254740993', /limit: must be a whole number from 1 to 200/],
    ['/raw/steps/abc/input', /step id: must be a UUID/],
    ['/raw/steps/00000000-0000-7000-8000-000000000000/secrets', /field: must be one of input, output/],
    ['/raw/runs/00000000-0000-7000-8000-000000000000/context', /key: required/],
    ['/processes?x=1', /Unknown query parameter "x"/],
  ];
  for (const [path, message] of cases) {
    test(path.slice(0, 90), async () => {
      const response = await get(path);
      assert.equal(response.status, 400);
      assert.match(await errorOf(response), message);
    });
  }

  test('the tables are all still there, and good parameters work', async () => {
    const [{ n }] = await db.sql`select count(*)::int as n from pipelines`;
    assert.equal(n, 3);
    const ok = await get(`/pipelines?status=halted&page=0&limit=5&since=1h&class=GatePipeline&q=${halted.id.slice(0, 8)}`);
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), new RegExp(halted.id));
  });

  test('an unknown pipeline is 404, an unknown path 404, a GET to an action 405', async () => {
    assert.equal((await get('/pipelines/00000000-0000-7000-8000-000000000000')).status, 404);
    assert.equal((await get('/nothing/here')).status, 404);
    const wrongMethod = await get(`/pipelines/${halted.id}/revive`);
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'POST');
  });
});

describe('actions', () => {
  test('a forged POST without the CSRF token is refused with 403 and changes nothing', async () => {
    const response = await post(`/pipelines/${halted.id}/revive`, { confirm: 'yes' });
    assert.equal(response.status, 403);
    assert.match(await errorOf(response), /CSRF token is missing, expired or not for this action/);
    const wrongToken = await post(`/pipelines/${halted.id}/revive`, { confirm: 'yes', csrf: `${Date.now().toString(36)}.${'A'.repeat(43)}` });
    assert.equal(wrongToken.status, 403);
    assert.equal((await client.status(halted.id)).status, 'halted');
  });

  test('a valid token from another site, or for another action, is refused too', async () => {
    const { action, token } = await formOf(`/pipelines/${halted.id}`);
    const crossSite = await post(action, { csrf: token, confirm: 'yes' }, { origin: 'https://evil.example' });
    assert.equal(crossSite.status, 403);
    assert.match(await errorOf(crossSite), /sent from another site/);
    const crossReferer = await post(action, { csrf: token, confirm: 'yes' }, { origin: '', referer: 'https://evil.example/page' });
    assert.equal(crossReferer.status, 403);
    const otherAction = await post(`/pipelines/${big.id}/revive`, { csrf: token, confirm: 'yes' });
    assert.equal(otherAction.status, 403);
    const [{ runs }] = await db.sql`select count(*)::int as runs from runs where pipeline_id = ${halted.id}`;
    assert.equal(runs, 1, 'nothing was revived');
  });

  test('without the confirm field the server asks first; confirmed, it revives and redirects', async () => {
    const { action, token } = await formOf(`/pipelines/${halted.id}`);
    const ask = await post(action, { csrf: token, confirm: '' });
    assert.equal(ask.status, 200);
    const page = await ask.text();
    assert.match(page, /Are you sure\?/);
    assert.match(page, /name="confirm" value="yes"/);
    assert.equal((await client.status(halted.id)).status, 'halted');

    const done = await post(action, { csrf: token, confirm: 'yes' });
    assert.equal(done.status, 303);
    assert.equal(done.headers.get('location'), `/pipelines/${halted.id}?notice=revived`);
    const [{ runs }] = await db.sql`select count(*)::int as runs from runs where pipeline_id = ${halted.id}`;
    assert.equal(runs, 2);
    await halted.wait({ timeoutMs: 20_000 }); // the gate is still closed: it halts again
  });

  test('reviving a pipeline that is no longer halted is a 409 with the reason', async () => {
    const { action, token } = await formOf(`/pipelines/${halted.id}`);
    await openGate(db, halted.id, 'a');
    await client.revive(halted.id);
    assert.equal((await halted.wait({ timeoutMs: 20_000 })).status, 'completed');
    const late = await post(action, { csrf: token, confirm: 'yes' });
    assert.equal(late.status, 409);
    assert.match(await errorOf(late), /Cannot revive completed pipeline .* only halted or cancelled pipelines can be revived/);
    assert.doesNotMatch(await (await get(`/pipelines/${halted.id}`)).text(), /Revive pipeline/, 'and the button is gone');
  });
});

describe('branch retry (the client call behind the button)', () => {
  test('refuses a branch that is not halted in the latest run, naming why', async () => {
    const runs = await db.sql`select id from runs where pipeline_id = ${halted.id} order by started_at`;
    const [earlier] = await db.sql`select id from branches where run_id = ${runs[0]!.id}`;
    const [latest] = await db.sql`select id from branches where run_id = ${runs.at(-1)!.id}`;
    const refused = (pattern: RegExp) => (error: DuctworkError) => error.code === 'revive_error' && pattern.test(error.message);
    await assert.rejects(client.retryBranch(halted.id, earlier!.id), refused(/: it is not a branch of its latest run; only halted branches of the latest run can be retried/));
    await assert.rejects(client.retryBranch(halted.id, latest!.id), refused(/: it is completed; only halted branches/));
    await assert.rejects(client.retryBranch(halted.id, 'nope'), refused(/"nope" is not a branch id/));
  });
});

describe('large payloads', () => {
  test('are cut in the page with a link to the raw JSON, which has all of it', async () => {
    const page = await (await get(`/pipelines/${big.id}`)).text();
    assert.match(page, /Truncated: showing 2,000 of 60,0\d\d characters/);
    const raw = /href="([^"]*\/raw\/steps\/[^"]+\/output)"/.exec(page)![1]!;
    const response = await get(raw);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const value = (await response.json()) as { blob: string; size: number };
    assert.equal(value.blob.length, 60_000);
    assert.equal(page.length < 60_000, true, 'the page itself stays small');
  });

  test('a whole step id in the search goes to its pipeline', async () => {
    const [step] = await db.sql`select s.id from step_view s join runs r on r.id = s.run_id where r.pipeline_id = ${running.id}`;
    const response = await get(`/pipelines?q=${step!.id}`);
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), `/pipelines/${running.id}`);
    const missing = await get('/pipelines?q=00000000-0000-7000-8000-000000000000');
    assert.match(await missing.text(), /No pipeline, run, branch or step has the id/);
  });
});

describe('mounting', () => {
  /** A loopback server whose requests go through `route`; its base URL. */
  async function serve(route: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void): Promise<string> {
    const server = createServer(route);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  test('in node:http under a prefix, as the README shows: every link keeps the prefix', async () => {
    const handler = createDashboard({ client, basePath: '/ductwork' });
    after(() => handler.close());
    const origin = await serve((req, res) => {
      if (req.url === '/ductwork' || req.url?.startsWith('/ductwork/')) return void handler(req, res);
      res.writeHead(200).end('the app');
    });
    assert.equal(await (await fetch(`${origin}/other`)).text(), 'the app');
    for (const path of ['/ductwork', '/ductwork/', `/ductwork/pipelines/${big.id}`]) {
      const response = await fetch(origin + path);
      assert.equal(response.status, 200, path);
      const links = [...(await response.text()).matchAll(/(?:href|src|action)="([^"]+)"/g)].map((m) => m[1]!).filter((l) => l.startsWith('/'));
      assert.ok(links.length > 5);
      assert.deepEqual(links.filter((l) => !l.startsWith('/ductwork/')), [], `links on ${path}`);
    }
    assert.equal((await fetch(`${origin}/ductwork/assets/dashboard.js?v=0.1.0`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
  });

  test('Express-style (the framework strips the mount path and sets req.baseUrl)', async () => {
    const handler = createDashboard({ client });
    after(() => handler.close());
    const origin = await serve((req, res) => {
      if (!req.url?.startsWith('/ops/')) return void res.writeHead(404).end();
      Object.assign(req, { baseUrl: '/ops', originalUrl: req.url, url: req.url.slice('/ops'.length) });
      void handler(req, res);
    });
    const response = await fetch(`${origin}/ops/pipelines?status=completed`);
    assert.equal(response.status, 200);
    const page = await response.text();
    assert.match(page, new RegExp(`href="/ops/pipelines/${big.id}"`));
    assert.match(page, /href="\/ops\/assets\/dashboard\.css\?v=/);
  });
});

describe('access', () => {
  test('starting on a non-loopback address without auth is refused before binding', async () => {
    for (const host of ['0.0.0.0', '::', '192.0.2.10']) {
      await assert.rejects(listenDashboard({ client, host, port: 0 }), (error: DuctworkError) => {
        assert.equal(error.code, 'dashboard_auth_required');
        assert.equal(error.name, 'ConfigError');
        assert.match(error.message, new RegExp(`Refusing to serve the Ductwork dashboard on ${host.replace(/\./g, '\\.')}: that is not a loopback address and no authentication is configured\\. Set dashboard\\.username`));
        return true;
      });
    }
  });

  test('on a non-loopback bind, requests without valid basic auth get 401', async () => {
    const exposed = await listenDashboard({ client, host: '0.0.0.0', port: 0, basicAuth: { username: 'ops', password: 's3cret' } });
    after(() => exposed.close());
    const port = (exposed.server.address() as AddressInfo).port;
    const at = (auth?: string) => fetch(`http://127.0.0.1:${port}/`, { headers: auth ? { authorization: auth } : {} });
    const none = await at();
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Basic realm="Ductwork dashboard"/);
    const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    assert.equal((await at(basic('ops', 'wrong'))).status, 401);
    assert.equal((await at(basic('root', 's3cret'))).status, 401);
    assert.equal((await at('Bearer s3cret')).status, 401);
    assert.equal((await at(basic('ops', 's3cret'))).status, 200);
  });

  test('an auth hook decides per request; one that throws refuses', async () => {
    const hooked = await listenDashboard({ client, host: '0.0.0.0', port: 0, auth: (req) => {
      if (req.headers['x-boom']) throw new Error('hook failed');
      return req.headers['x-operator'] === 'yes';
    } });
    after(() => hooked.close());
    const port = (hooked.server.address() as AddressInfo).port;
    const at = (headers: Record<string, string>) => fetch(`http://127.0.0.1:${port}/processes`, { headers });
    assert.equal((await at({})).status, 401);
    assert.equal((await at({ 'x-operator': 'yes', 'x-boom': '1' })).status, 401);
    assert.equal((await at({ 'x-operator': 'yes' })).status, 200);
  });

  test('a mounted handler without auth refuses requests that did not come from this machine', async () => {
    const handler = createDashboard({ client });
    after(() => handler.close());
    // The server listens on loopback for the test; the handler is told the request arrived on a public interface.
    const server = createServer((req, res) => {
      if (req.headers['x-test-interface']) Object.defineProperty(req.socket, 'localAddress', { value: req.headers['x-test-interface'], configurable: true });
      void handler(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    assert.equal((await fetch(url)).status, 200, 'a loopback request is answered');
    const publicInterface = await fetch(url, { headers: { 'x-test-interface': '203.0.113.7' } });
    assert.equal(publicInterface.status, 403);
    assert.match(await errorOf(publicInterface), /no authentication configured, so it only answers requests made on this machine/);
    assert.equal((await fetch(url, { headers: { 'x-forwarded-for': '198.51.100.4' } })).status, 403, 'a request forwarded by a proxy');
  });

  test('without auth, a request whose Host is not a loopback name is refused (DNS rebinding), and X-Forwarded-* counts only with trustProxy', async () => {
    const port = new URL(base).port;
    const raw = (headers: Record<string, string>, method = 'GET', path = '/') =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const rebound = await raw({ host: `attacker.example:${port}` });
    assert.equal(rebound.status, 421);
    assert.match(rebound.body, /only answers to a loopback Host \(localhost, 127\.0\.0\.1 or \[::1\]\)/);
    assert.equal((await raw({ host: 'attacker.example' })).status, 421);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'localhost']) assert.equal((await raw({ host })).status, 200, host);
    // A forged X-Forwarded-Host is not believed: without trustProxy a forwarded request is refused.
    const spoofed = await post(`/pipelines/${halted.id}/revive`, { confirm: 'yes' }, { origin: 'http://attacker.example', 'x-forwarded-host': 'attacker.example' });
    assert.equal(spoofed.status, 403);
    assert.match(await errorOf(spoofed), /behind a proxy you trust, also pass `trustProxy: true`/);

    const proxied = createDashboard({ client, trustProxy: true });
    after(() => proxied.close());
    const server = createServer((req, res) => void proxied(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const behind = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    assert.equal((await fetch(behind, { headers: { 'x-forwarded-for': '127.0.0.1', 'x-forwarded-host': 'localhost:8080' } })).status, 200, 'a local proxy, trusted');
    assert.equal((await fetch(behind, { headers: { 'x-forwarded-for': '198.51.100.4', 'x-forwarded-host': 'localhost:8080' } })).status, 403, 'a remote client behind the proxy');
    assert.equal((await fetch(behind, { headers: { 'x-forwarded-for': '127.0.0.1', 'x-forwarded-host': 'attacker.example' } })).status, 421, 'a rebound name behind the proxy');
  });

  test('every response forbids framing and inline script', async () => {
    const response = await get('/');
    assert.match(response.headers.get('content-security-policy') ?? '', /script-src 'self'.*frame-ancestors 'none'/);
    assert.equal(response.headers.get('x-frame-options'), 'DENY');
    assert.equal(response.headers.get('cache-control'), 'no-store');
  });
});
