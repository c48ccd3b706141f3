/** The step errors page: recent failures grouped by step and message, then one by one. */
import { errorGroups, failures, type FailureRow } from '../../db/queries/activity-reads.js';
import { pipelineClasses } from '../../db/queries/pipeline-reads.js';
import type { RequestContext } from '../context.js';
import { timeCell } from '../format.js';
import { html, type Html } from '../html.js';
import { layout, pager, pill, shortId } from '../layout.js';
import { name, pageNumber, pageSize, readParams, WINDOWS, windowName } from '../params.js';
import { page, type Outcome } from '../responses.js';

const GROUPS = 50;

function failureLink(ctx: RequestContext, f: Pick<FailureRow, 'pipeline_id' | 'run_id' | 'node'>): string {
  return ctx.link(`/pipelines/${f.pipeline_id}`, { run: f.run_id, node: f.node });
}

function stackOf(f: FailureRow | undefined): Html {
  if (!f?.error_stack) return html``;
  return html`<details><summary class="muted">stack</summary><pre class="stack">${f.error_stack}</pre></details>`;
}

export async function stepErrorsPage(ctx: RequestContext): Promise<Outcome> {
  const q = readParams(ctx.query, { since: windowName, class: name, page: pageNumber, limit: pageSize(200) });
  const since = q.since ?? '24h';
  const filter = { sinceSeconds: WINDOWS[since], klass: q.class };
  const limit = q.limit ?? 50;
  const current = q.page ?? 0;
  const [groups, recent, classes] = await Promise.all([
    errorGroups(ctx.sql, filter, GROUPS),
    failures(ctx.sql, filter, { offset: current * limit, limit: limit + 1 }),
    pipelineClasses(ctx.sql),
  ]);
  const latest = new Map((await failures(ctx.sql, { ids: groups.map((g) => g.latest_execution_id) }, { offset: 0, limit: GROUPS })).map((f) => [f.id, f]));
  const option = (value: string, selected: string | undefined, label = value) =>
    html`<option value="${value}"${value === selected ? html` selected` : ''}>${label}</option>`;
  return page(layout(ctx, {
    title: 'Step errors',
    section: 'errors',
    body: html`<h1>Step errors</h1>
      <form class="filters" method="get" action="${ctx.link('/errors')}">
        <label>Pipeline class<select name="class"><option value="">All classes</option>${classes.map((c) => option(c, q.class))}</select></label>
        <label>Window<select name="since">${Object.keys(WINDOWS).map((w) => option(w, since, `last ${w}`))}</select></label>
        <button type="submit">Filter</button>
        <a href="${ctx.link('/errors')}">Clear</a>
      </form>
      <h2>Grouped by step and message</h2>
      ${groups.length === 0 ? html`<p class="muted empty">No step failed in the last ${since}.</p>` : html`<table class="error-groups">
        <thead><tr><th>Pipeline</th><th>Step</th><th>Error</th><th>Count</th><th>First</th><th>Last</th></tr></thead>
        <tbody>${groups.map((g) => {
          const example = latest.get(g.latest_execution_id);
          return html`<tr data-group="${g.step_klass}">
            <td>${g.pipeline_klass}</td>
            <td><strong>${g.step_klass}</strong> <span class="muted">${g.node}</span></td>
            <td>${pill(g.outcome)} <strong>${g.error_class || 'Error'}</strong>: ${g.message}${stackOf(example)}</td>
            <td>${g.count}</td><td>${timeCell(g.first_at)}</td>
            <td>${timeCell(g.last_at)}${example ? html`<div><a href="${failureLink(ctx, example)}">latest pipeline →</a></div>` : ''}</td>
          </tr>`;
        })}</tbody></table>`}
      <h2>Recent failures</h2>
      ${recent.length === 0 ? html`<p class="muted empty">None.</p>` : html`<table class="failures">
        <thead><tr><th>When</th><th>Pipeline</th><th>Step</th><th>Attempt</th><th>Error</th></tr></thead>
        <tbody>${recent.slice(0, limit).map((f) => html`<tr data-execution="${f.id}">
          <td>${timeCell(f.completed_at)}</td>
          <td><a href="${failureLink(ctx, f)}">${shortId(f.pipeline_id)}</a> <span class="muted">${f.pipeline_klass}</span></td>
          <td>${f.step_klass} <span class="muted">${f.node}</span></td>
          <td>retry ${f.retry_count}, crash ${f.crash_count}</td>
          <td>${pill(f.outcome)} <strong>${f.error_class ?? 'Error'}</strong>${f.error_code ? html` <code>${f.error_code}</code>` : ''}: ${f.error_message}${stackOf(f)}</td>
        </tr>`)}</tbody></table>`}
      ${pager(ctx, '/errors', { since: q.since, class: q.class, limit: q.limit }, 'page', current, recent.length > limit)}`,
  }));
}
