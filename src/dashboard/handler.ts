/**
 * `createDashboard`: the dashboard as one `(req, res)` request handler that node:http, Express,
 * Fastify and Koa can all mount. Each request is admitted (auth, or loopback only), routed,
 * checked (parameters validated, POSTs CSRF-checked) and answered with server-rendered HTML.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DuctworkClient } from '../client/client.js';
import type { Sql } from '../db/connect.js';
import { DuctworkError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { admit, assertCredentials, type DashboardAuthHook, type BasicAuthCredentials } from './access.js';
import type { LinkQuery, RequestContext } from './context.js';
import { CsrfTokens, checkForgery } from './csrf.js';
import { html } from './html.js';
import { layout } from './layout.js';
import { oneOf, readParams } from './params.js';
import { HttpError, type Outcome } from './responses.js';
import { matchRoute } from './router.js';
import { queueGauges } from '../db/queries/metric-reads.js';
import { EngineMetrics } from '../observe/metrics.js';
import type { MetricsSource } from '../observe/metrics-handler.js';

/** Options of {@link createDashboard}. */
export interface DashboardOptions {
  /** Read and act through this client (e.g. `engine.client`); otherwise one is made from the options below. */
  client?: DuctworkClient;
  /** Use this postgres.js pool (its search_path must be the schema), as for `DuctworkClient`. */
  sql?: Sql;
  /** PostgreSQL URL when neither `client` nor `sql` is given; defaults to `DATABASE_URL`. */
  databaseUrl?: string;
  /** Schema holding Ductwork's tables; defaults to `DUCTWORK_SCHEMA`, then `ductwork`. */
  schema?: string;
  /**
   * The path the dashboard is mounted under, such as `/ductwork`, used for its links and stripped
   * from request URLs that still contain it (node:http). Frameworks that strip the mount path
   * themselves (Express `app.use('/ductwork', ...)`) need it only for links; Express's
   * `req.baseUrl` is used when this is not set.
   */
  basePath?: string;
  /** Decides per request whether it may use the dashboard. Without `auth` or `basicAuth`, only loopback requests are answered. */
  auth?: DashboardAuthHook;
  /** HTTP basic-auth credentials every request must present. Both this and `auth` must pass when both are set. */
  basicAuth?: BasicAuthCredentials;
  /**
   * Believe the `X-Forwarded-For` and `X-Forwarded-Host` headers of a reverse proxy in front of
   * the dashboard (default false: they are ignored, and in loopback-only mode a request carrying
   * them is refused). Set it only when every request reaches the dashboard through that proxy.
   */
  trustProxy?: boolean;
  /** Secret for CSRF tokens; set the same one on every process behind one address. Default: random per dashboard. */
  csrfSecret?: string;
  /** How often the overview and pipeline pages refresh their live parts, in milliseconds (default 2000). */
  liveIntervalMs?: number;
  /** Where unexpected errors are logged (default: a `ductwork.dashboard` logger at `warn`). */
  log?: Logger;
  /**
   * What `/metrics` serves (Prometheus text format), e.g. `engine.metrics` when the dashboard runs
   * beside an engine. Default: the queue gauges read from the database (no engine counters).
   */
  metrics?: MetricsSource;
}

/** The dashboard's request handler; `next` (Express) is accepted and never needed. */
export interface DashboardHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): Promise<void>;
  /** Closes the database pool if the dashboard opened it. */
  close(): Promise<void>;
}

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const MAX_FORM_BYTES = 16 * 1024;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
};

/** `/ductwork/` → `/ductwork`; '' for the root. */
function normalizeBase(path: string | undefined): string {
  if (!path) return '';
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed !== '' && !/^\/[\w\-./~%]*$/.test(trimmed)) throw new TypeError(`createDashboard: basePath "${path}" must be a path such as /ductwork.`);
  return trimmed;
}

function buildLink(base: string, path: string, query: LinkQuery = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(key, String(value));
  const search = params.toString();
  return `${base}${path === '/' && base !== '' ? '/' : path}${search ? `?${search}` : ''}`;
}

/** The form fields of a POST: parsed already by a framework (`req.body`), else read here (urlencoded, at most 16 kB). */
async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const parsed = (req as { body?: unknown }).body;
  if (parsed !== null && typeof parsed === 'object' && !Buffer.isBuffer(parsed)) {
    return new URLSearchParams(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'));
  }
  if (typeof parsed === 'string') return new URLSearchParams(parsed);
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new HttpError(415, 'Actions take a form (application/x-www-form-urlencoded).');
  if (Number(req.headers['content-length'] ?? 0) > MAX_FORM_BYTES) throw new HttpError(413, 'The form is too large.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) throw new HttpError(413, 'The form is too large.');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** An error's HTTP status and the message shown for it (internal errors are not described). */
function describe(error: unknown): { status: number; message: string; headers: Readonly<Record<string, string>> } {
  if (error instanceof HttpError) return { status: error.status, message: error.message, headers: error.headers };
  if (error instanceof DuctworkError) {
    const status = error.code === 'pipeline_not_found' ? 404 : ['revive_error', 'cancel_error', 'signal_target_finished'].includes(error.code) ? 409 : ['signal_invalid', 'signal_target_unknown'].includes(error.code) ? 400 : error.code.startsWith('database_') ? 503 : 500;
    return { status, message: status === 500 ? 'Internal error; see the server log.' : error.message, headers: {} };
  }
  // A data exception from PostgreSQL (class 22: a value the column cannot hold) is the request's fault.
  const code = (error as { code?: unknown })?.code;
  // undefined_table: the dashboard is up before `ductwork migrate` ran on its schema.
  if (code === '42P01') return { status: 503, message: 'The Ductwork schema is not migrated: run `npx ductwork migrate` (with the same --schema), then reload.', headers: {} };
  if (typeof code === 'string' && code.startsWith('22')) return { status: 400, message: 'A parameter has a value the database cannot use.', headers: {} };
  return { status: 500, message: 'Internal error; see the server log.', headers: {} };
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'cache-control': 'no-store', ...SECURITY_HEADERS, ...headers, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Creates the dashboard's request handler. Mount it under any path:
 *
 * ```ts
 * const dashboard = createDashboard({ databaseUrl: process.env.DATABASE_URL, basePath: '/ductwork', basicAuth: { username, password } });
 * createServer((req, res) => req.url?.startsWith('/ductwork') ? dashboard(req, res) : app(req, res));
 * ```
 *
 * Without `auth` or `basicAuth` it answers only requests made on this machine (loopback).
 */
export function createDashboard(options: DashboardOptions = {}): DashboardHandler {
  assertCredentials(options.basicAuth, 'createDashboard');
  if (options.auth !== undefined && typeof options.auth !== 'function') throw new TypeError('createDashboard: auth must be a function (req) => boolean | Promise<boolean>.');
  const fixedBase = options.basePath === undefined ? undefined : normalizeBase(options.basePath);
  const ownsClient = options.client === undefined;
  const client = options.client ?? new DuctworkClient({
    ...(options.sql ? { sql: options.sql } : {}),
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    ...(options.schema ? { schema: options.schema } : {}),
    poolSize: 4,
  });
  const tokens = new CsrfTokens(options.csrfSecret);
  const log = options.log ?? createLogger('warn', 'ductwork.dashboard');
  const rules = { auth: options.auth, basicAuth: options.basicAuth, trustProxy: options.trustProxy === true };
  const liveIntervalMs = Math.max(250, options.liveIntervalMs ?? 2000);
  const metrics = options.metrics ?? new EngineMetrics({ engine: false, readGauges: async () => ({ queue: await queueGauges(client.sql) }) });

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let base = fixedBase ?? '';
    let ctx: RequestContext | undefined;
    try {
      const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
      if (fixedBase === undefined) {
        const mounted = (req as { baseUrl?: unknown }).baseUrl;
        base = typeof mounted === 'string' ? normalizeBase(mounted) : '';
      }
      let path = url.pathname;
      if (base !== '' && (path === base || path.startsWith(`${base}/`))) path = path.slice(base.length) || '/';
      const identity = await admit(req, rules);
      ctx = {
        req, path, query: url.searchParams, form: undefined, sql: client.sql, client, metrics, identity, now: new Date(), version: VERSION, liveIntervalMs,
        link: (to, query) => buildLink(base, to, query),
        csrfToken: (action) => tokens.issue(action, identity),
      };
      const match = matchRoute(req.method ?? 'GET', path);
      if ('allowed' in match) {
        if (match.allowed.length === 0) throw new HttpError(404, `Nothing here: ${path.slice(0, 200)}`);
        throw new HttpError(405, `Method ${req.method} is not allowed here.`, { allow: match.allowed.join(', ') });
      }
      if (match.method === 'POST') {
        const form = await readForm(req);
        // `event` and `payload` are the signal form's (checked by the client call).
        const fields = readParams(form, { csrf: (raw) => raw, confirm: oneOf(['yes'] as const), event: (raw) => raw, payload: (raw) => raw }, 'form field');
        checkForgery(req, tokens, path, identity, fields.csrf, rules.trustProxy);
        ctx.form = form;
      }
      const outcome: Outcome = await match.answer(ctx, match.params);
      if (outcome.kind === 'redirect') {
        send(res, 303, 'text/plain; charset=utf-8', `See ${outcome.location}`, { location: outcome.location });
        return;
      }
      send(res, outcome.status ?? 200, outcome.type ?? 'text/html; charset=utf-8', String(outcome.body), outcome.headers);
    } catch (error) {
      const { status, message, headers } = describe(error);
      if (status >= 500) log.error('Dashboard request failed', { method: req.method, url: req.url?.slice(0, 300), error: (error as Error)?.stack ?? String(error) });
      const view: RequestContext = ctx ?? {
        req, path: '/', query: new URLSearchParams(), form: undefined, sql: client.sql, client, metrics, identity: '', now: new Date(), version: VERSION, liveIntervalMs,
        link: (to, query) => buildLink(base, to, query), csrfToken: () => '',
      };
      const body = layout(view, {
        title: `Error ${status}`,
        section: 'overview',
        body: html`<h1>${status === 404 ? 'Not found' : status === 400 ? 'Bad request' : status === 401 || status === 403 || status === 421 ? 'Refused' : 'Error'}</h1>
          <p class="notice error" data-error-status="${status}">${message}</p>
          <p><a href="${view.link('/')}">Back to the overview</a></p>`,
      });
      send(res, status, 'text/html; charset=utf-8', String(body), headers);
    }
  };
  return Object.assign(handler, {
    close: async () => {
      if (ownsClient) await client.close();
    },
  });
}
