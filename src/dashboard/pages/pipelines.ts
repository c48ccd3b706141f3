/** The pipelines page: every pipeline, filtered by class, status, time and id, newest first. */
import type { PipelineSummary } from '../../client/read-api.js';
import { pipelineClasses, pipelineOfAnyId } from '../../db/queries/pipeline-reads.js';
import type { PipelineStatus } from '../../db/queries/pipelines.js';
import type { RequestContext } from '../context.js';
import { elapsed, timeCell } from '../format.js';
import { html, type Html } from '../html.js';
import { layout, pager, pill } from '../layout.js';
import { idPrefix, name, oneOf, pageNumber, pageSize, readParams, WINDOWS, windowName } from '../params.js';
import { page, type Outcome } from '../responses.js';

export const PIPELINE_STATUSES: readonly PipelineStatus[] = ['in_progress', 'completed', 'halted'];

/** A table of pipelines linking to their pages (also on the overview). */
export function pipelinesTable(ctx: RequestContext, rows: PipelineSummary[]): Html {
  if (rows.length === 0) return html`<p class="muted empty">No pipelines match.</p>`;
  return html`<table class="pipelines">
    <thead><tr><th>Pipeline id</th><th>Class</th><th>Status</th><th>Triggered</th><th>Runtime</th></tr></thead>
    <tbody>${rows.map((p) => html`<tr data-pipeline="${p.id}">
      <td class="id"><a href="${ctx.link(`/pipelines/${p.id}`)}">${p.id}</a></td>
      <td><a href="${ctx.link('/pipelines', { class: p.pipeline })}">${p.pipeline}</a></td>
      <td>${pill(p.status)}</td>
      <td>${timeCell(p.createdAt)}</td>
      <td>${elapsed(p.createdAt, p.status === 'in_progress' ? null : p.updatedAt, ctx.now)}</td>
    </tr>`)}</tbody>
  </table>`;
}

export async function pipelinesPage(ctx: RequestContext): Promise<Outcome> {
  const q = readParams(ctx.query, {
    class: name, status: oneOf(PIPELINE_STATUSES), since: windowName, q: idPrefix, page: pageNumber, limit: pageSize(200),
  });
  // A whole id (of a pipeline, run, branch or step, as logs print them) goes straight to its pipeline.
  if (q.q?.prefix.length === 32) {
    const found = await pipelineOfAnyId(ctx.sql, q.q.from);
    if (found) return { kind: 'redirect', location: ctx.link(`/pipelines/${found}`) };
  }
  const limit = q.limit ?? 50;
  const current = q.page ?? 0;
  const [rows, classes] = await Promise.all([
    ctx.client.listPipelines({
      ...(q.class === undefined ? {} : { pipeline: q.class }), ...(q.status === undefined ? {} : { status: q.status }),
      ...(q.since === undefined ? {} : { within: WINDOWS[q.since] }), ...(q.q === undefined ? {} : { idPrefix: q.q.prefix }),
      offset: current * limit, limit,
    }),
    pipelineClasses(ctx.sql),
  ]);
  const filters = { class: q.class, status: q.status, since: q.since, q: ctx.query.get('q') ?? undefined, limit: q.limit };
  const option = (value: string, selected: string | undefined, label = value) =>
    html`<option value="${value}"${value === selected ? html` selected` : ''}>${label}</option>`;
  return page(layout(ctx, {
    title: 'Pipelines',
    section: 'pipelines',
    body: html`<h1>Pipelines</h1>
      <form class="filters" method="get" action="${ctx.link('/pipelines')}">
        <label>Class<select name="class"><option value="">All classes</option>${classes.map((c) => option(c, q.class))}</select></label>
        <label>Status<select name="status"><option value="">Any status</option>${PIPELINE_STATUSES.map((s) => option(s, q.status, s.replace('_', ' ')))}</select></label>
        <label>Triggered<select name="since"><option value="">Any time</option>${Object.keys(WINDOWS).map((w) => option(w, q.since, `last ${w}`))}</select></label>
        <label>Id<input name="q" value="${filters.q ?? ''}" placeholder="pipeline, run, branch or step id" size="38" maxlength="36"></label>
        <button type="submit">Filter</button>
        <a href="${ctx.link('/pipelines')}">Clear</a>
      </form>
      ${q.q?.prefix.length === 32 ? html`<p class="notice error">No pipeline, run, branch or step has the id ${q.q.from}.</p>` : ''}
      ${pipelinesTable(ctx, rows.items)}
      ${pager(ctx, '/pipelines', filters, 'page', current, rows.next !== undefined)}`,
  }));
}
