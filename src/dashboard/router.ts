/** The dashboard's routes: method, path pattern and the page or action that answers. */
import { SCRIPT, STYLESHEET } from './assets.js';
import type { RequestContext } from './context.js';
import { cancelPipelineAction, revivePipelineAction, retryBranchAction, signalPipelineAction } from './pages/actions.js';
import { schedulesPage } from './pages/schedules.js';
import { overviewPage } from './pages/overview.js';
import { pipelineDetailPage } from './pages/pipeline-detail.js';
import { pipelinesPage } from './pages/pipelines.js';
import { processesPage } from './pages/processes.js';
import { rawContextValue, rawRunOutput, rawStepJson } from './pages/raw-json.js';
import { stepErrorsPage } from './pages/step-errors.js';
import { readParams } from './params.js';
import type { Outcome } from './responses.js';

type Answer = (ctx: RequestContext, params: Record<string, string>) => Promise<Outcome>;

interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  keys: string[];
  answer: Answer;
}

/** `/pipelines/:id` → a pattern whose named segments match one path segment each. */
function route(method: Route['method'], path: string, answer: Answer): Route {
  const keys: string[] = [];
  const source = path.replace(/:(\w+)/g, (_, key: string) => {
    keys.push(key);
    return '([^/]+)';
  });
  return { method, pattern: new RegExp(`^${source === '/' ? '' : source}/?$`), keys, answer };
}

function asset(body: string, type: string): Answer {
  return async (ctx) => {
    readParams(ctx.query, { v: (raw) => raw });
    return { kind: 'page', body, type, headers: { 'cache-control': 'public, max-age=3600' } };
  };
}

const ROUTES: Route[] = [
  route('GET', '/', overviewPage),
  route('GET', '/pipelines', pipelinesPage),
  route('GET', '/pipelines/:id', pipelineDetailPage),
  route('POST', '/pipelines/:id/revive', revivePipelineAction),
  route('POST', '/pipelines/:id/cancel', cancelPipelineAction),
  route('POST', '/pipelines/:id/signal', signalPipelineAction),
  route('GET', '/schedules', schedulesPage),
  route('POST', '/pipelines/:id/branches/:branchId/retry', retryBranchAction),
  route('GET', '/errors', stepErrorsPage),
  route('GET', '/processes', processesPage),
  // Prometheus text format, behind the dashboard's own access rules.
  route('GET', '/metrics', async (ctx) => ({ kind: 'page', body: await ctx.metrics.scrape(), type: ctx.metrics.contentType })),
  route('GET', '/raw/steps/:id/:field', rawStepJson),
  route('GET', '/raw/runs/:id/output', rawRunOutput),
  route('GET', '/raw/runs/:id/context', rawContextValue),
  route('GET', '/assets/dashboard.css', asset(STYLESHEET, 'text/css; charset=utf-8')),
  route('GET', '/assets/dashboard.js', asset(SCRIPT, 'text/javascript; charset=utf-8')),
  // Browsers ask for it on pages that name no icon (the raw JSON views); there is none.
  route('GET', '/favicon.ico', async () => ({ kind: 'page', status: 204, body: '', type: 'image/x-icon' })),
];

/** The route for a request, its path parameters (decoded), or the methods the path allows. */
export function matchRoute(method: string, path: string): { answer: Answer; params: Record<string, string>; method: 'GET' | 'POST' } | { allowed: string[] } {
  const wanted = method === 'HEAD' ? 'GET' : method;
  const allowed: string[] = [];
  for (const r of ROUTES) {
    const match = r.pattern.exec(path);
    if (!match) continue;
    if (r.method !== wanted) {
      allowed.push(r.method);
      continue;
    }
    const params: Record<string, string> = {};
    r.keys.forEach((key, i) => {
      let value = match[i + 1]!;
      try {
        value = decodeURIComponent(value);
      } catch {
        // A malformed escape stays as it was; the parameter's validation refuses it.
      }
      params[key] = value;
    });
    return { answer: r.answer, params, method: r.method };
  }
  return { allowed };
}
