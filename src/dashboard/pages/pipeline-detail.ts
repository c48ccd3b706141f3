/**
 * One pipeline: its definition drawn as a graph colored by step status, its runs, the branches
 * and steps of the run shown (the latest by default) with every attempt and error, and the run's
 * context. Revive and branch retry buttons appear where they apply.
 */
import { findPipeline, type PipelineRow } from '../../db/queries/pipelines.js';
import { waitingOfRun, type WaitingRow } from '../../db/queries/jobs.js';
import {
  contextOfRun, executionsOfSteps, runDetail, stepsPage, stepStatusByNode, type ExecutionViewRow, type RunDetailRow, type StepViewRow,
} from '../../db/queries/pipeline-reads.js';
import type { BranchInfo, RunSummary } from '../../client/read-api.js';
import type { StepStatus } from '../../db/queries/steps.js';
import { ON_HALT_NODE } from '../../definition/graph.js';
import type { RequestContext } from '../context.js';
import { elapsed, jsonBlock, PREVIEW_CHARS, timeCell } from '../format.js';
import { graphSvg } from '../graph-svg.js';
import { html, type Html } from '../html.js';
import { actionButton, layout, pager, pill, shortId } from '../layout.js';
import { name, oneOf, pageNumber, readParams, uuid } from '../params.js';
import { HttpError, page, type Outcome } from '../responses.js';

const STEP_STATUSES: readonly StepStatus[] = ['in_progress', 'advancing', 'failed', 'completed'];
const NOTICES = {
  revived: 'Revived: a new run is in progress.', resumed: 'Revived: the cancelled pipeline is in progress again.', retried: 'Branch retried: a new run is in progress.', cancelled: 'Cancelled.',
  signalled: 'Signal delivered: the waiting branch continues.', signal_stored: 'Signal stored: it is delivered when a branch waits for it.',
} as const;
const STEPS_PER_PAGE = 25;
const BRANCHES_PER_PAGE = 25;

export async function pipelineDetailPage(ctx: RequestContext, params: Record<string, string>): Promise<Outcome> {
  const id = uuid(params.id!, 'pipeline id');
  const q = readParams(ctx.query, {
    run: uuid, node: name, step_status: oneOf(STEP_STATUSES), spage: pageNumber, bpage: pageNumber,
    notice: oneOf(Object.keys(NOTICES) as (keyof typeof NOTICES)[]),
  });
  const [pipeline, { items: runs }] = await Promise.all([findPipeline(ctx.sql, id), ctx.client.runs(id, { limit: 100 })]);
  const waiting: readonly WaitingRow[] = pipeline?.status === 'in_progress' && runs[0] ? await waitingOfRun(ctx.sql, runs[0].id) : [];
  if (!pipeline || runs.length === 0) throw new HttpError(404, `No pipeline with id ${id}.`);
  const shown = q.run === undefined ? runs[0]! : runs.find((r) => r.id === q.run);
  if (!shown) throw new HttpError(404, `Run ${q.run} is not a run of pipeline ${id}.`);
  const latest = shown.id === runs[0]!.id;
  const spage = q.spage ?? 0;
  const bpage = q.bpage ?? 0;
  const [run, counts, branches, steps, context] = await Promise.all([
    runDetail(ctx.sql, shown.id, PREVIEW_CHARS),
    stepStatusByNode(ctx.sql, shown.id),
    ctx.client.branches(id, { runId: shown.id, offset: bpage * BRANCHES_PER_PAGE, limit: BRANCHES_PER_PAGE }),
    stepsPage(ctx.sql, shown.id, { node: q.node, status: q.step_status }, { offset: spage * STEPS_PER_PAGE, limit: STEPS_PER_PAGE + 1 }, PREVIEW_CHARS),
    contextOf(ctx, shown.id),
  ]);
  const executions = await executionsOfSteps(ctx.sql, steps.slice(0, STEPS_PER_PAGE).map((s) => s.id));
  const here = `/pipelines/${id}`;
  const keep = { run: q.run, node: q.node, step_status: q.step_status, spage: q.spage, bpage: q.bpage };
  const halted = (pipeline.status === 'halted' || pipeline.status === 'cancelled') && latest;

  return page(layout(ctx, {
    title: `${pipeline.klass} ${id.slice(0, 8)}`,
    section: 'pipelines',
    live: true,
    body: html`
      ${q.notice ? html`<p class="notice" data-notice="${q.notice}">${NOTICES[q.notice]}</p>` : ''}
      <section id="pipeline-head" data-live>${head(ctx, pipeline, run!, halted, latest)}</section>
      ${waiting.length > 0 && latest ? html`<h2>Waiting</h2><section id="pipeline-waiting" data-live>${waitingList(ctx, pipeline.id, waiting)}</section>` : ''}
      <h2>Graph <span class="muted">(click a node to list its steps)</span></h2>
      <section id="pipeline-graph" data-live class="graph">
        ${graphSvg(run!.definition, counts, (node) => ctx.link(here, { ...keep, node: node === q.node ? undefined : node, spage: undefined }), q.node, ON_HALT_NODE)}
      </section>
      <h2>Runs (${runs.length})</h2>
      <section id="pipeline-runs" data-live>${runsTable(ctx, here, runs, shown.id)}</section>
      <h2>Branches</h2>
      <section id="pipeline-branches" data-live>
        ${branchesTable(ctx, here, branches.items, halted)}
        ${pager(ctx, here, keep, 'bpage', bpage, branches.next !== undefined)}
      </section>
      <h2>Steps${q.node ? html` at <code>${q.node}</code> <a href="${ctx.link(here, { ...keep, node: undefined, spage: undefined })}">(all nodes)</a>` : ''}</h2>
      <form class="filters" method="get" action="${ctx.link(here)}">
        ${q.run ? html`<input type="hidden" name="run" value="${q.run}">` : ''}
        ${q.node ? html`<input type="hidden" name="node" value="${q.node}">` : ''}
        <label>Status<select name="step_status"><option value="">Any status</option>${STEP_STATUSES.map((s) => html`<option value="${s}"${s === q.step_status ? html` selected` : ''}>${s.replace('_', ' ')}</option>`)}</select></label>
        <button type="submit">Filter</button>
      </form>
      <section id="pipeline-steps" data-live>
        ${stepsList(ctx, steps.slice(0, STEPS_PER_PAGE), executions)}
        ${pager(ctx, here, keep, 'spage', spage, steps.length > STEPS_PER_PAGE)}
      </section>
      <h2>Context</h2>
      <section id="pipeline-context" data-live>${context}</section>`,
  }));
}

function head(ctx: RequestContext, pipeline: PipelineRow, run: RunDetailRow, halted: boolean, latest: boolean): Html {
  const finished = run.completed_at ?? run.halted_at;
  return html`<div class="title-row">
      <h1>${pipeline.klass}</h1> ${pill(pipeline.status)}
      ${halted ? actionButton(ctx, `/pipelines/${pipeline.id}/revive`, 'Revive pipeline', `Revive pipeline ${pipeline.id} (${pipeline.klass})? Its halted or cancelled branches run again; completed steps are kept.`) : ''}
      ${pipeline.status === 'in_progress' && latest ? actionButton(ctx, `/pipelines/${pipeline.id}/cancel`, 'Cancel pipeline', `Cancel pipeline ${pipeline.id} (${pipeline.klass})? No new step starts and running steps are told to stop.`, 'danger') : ''}
    </div>
    <dl class="meta">
      <dt>Pipeline id</dt><dd class="mono">${pipeline.id}</dd>
      <dt>Run shown</dt><dd class="mono">${run.id} ${pill(run.status)} ${latest ? html`<span class="muted">latest</span>` : html`<span class="muted">an earlier run</span>`}</dd>
      <dt>Triggered</dt><dd>${timeCell(run.triggered_at)}</dd>
      <dt>Started</dt><dd>${timeCell(run.started_at)}</dd>
      <dt>${run.halted_at ? 'Halted' : 'Completed'}</dt><dd>${timeCell(finished)}</dd>
      <dt>Runtime</dt><dd>${elapsed(run.started_at, run.status === 'in_progress' ? null : finished, ctx.now)}</dd>
      <dt>Definition</dt><dd class="mono">sha1 ${run.definition_sha1}</dd>
    </dl>
    ${run.status === 'completed' ? html`<h3>Output</h3>${jsonBlock(run.output, ctx.link(`/raw/runs/${run.id}/output`))}` : ''}`;
}

const WAIT_LABELS: Record<Exclude<WaitingRow['kind'], 'event'>, string> = {
  start: 'delayed start of',
  retry: 'retry of',
  delay: 'delay after',
};

/** What the latest run waits for: delays until a time, and events, each with a form to send it. */
function waitingList(ctx: RequestContext, id: string, waiting: readonly WaitingRow[]): Html {
  const action = `/pipelines/${id}/signal`;
  return html`<ul class="waiting">${waiting.map((w) => html`<li data-waiting="${w.kind}">
    ${w.kind === 'event'
      ? html`waiting for <code>${w.event}</code> after <strong>${w.klass}</strong> ${w.until ? html`until ${timeCell(w.until)}` : html`<span class="muted">(no timeout)</span>`}
        <form method="post" action="${ctx.link(action)}" class="signal">
          <input type="hidden" name="csrf" value="${ctx.csrfToken(action)}">
          <input type="hidden" name="event" value="${w.event}">
          <input name="payload" placeholder='JSON payload, e.g. {"approvedBy":"ada"}' aria-label="payload">
          <button type="submit" class="primary">Send ${w.event}</button>
        </form>`
      : html`waiting until ${timeCell(w.until)} <span class="muted">(${w.kind === 'delay' && w.before_step ? 'delay before' : WAIT_LABELS[w.kind]} <strong>${w.klass}</strong>)</span>`}
  </li>`)}</ul>`;
}

function runsTable(ctx: RequestContext, here: string, runs: RunSummary[], shownId: string): Html {
  return html`<table class="runs">
    <thead><tr><th>Run</th><th>Status</th><th>Triggered</th><th>Started</th><th>Finished</th><th>Runtime</th></tr></thead>
    <tbody>${runs.map((r, i) => html`<tr data-run="${r.id}">
      <td class="id">${r.id === shownId ? html`<strong>${r.id}</strong>` : html`<a href="${ctx.link(here, { run: i === 0 ? undefined : r.id })}">${r.id}</a>`}</td>
      <td>${pill(r.status)}</td><td>${timeCell(r.triggeredAt)}</td><td>${timeCell(r.startedAt)}</td>
      <td>${timeCell(r.completedAt ?? r.haltedAt)}</td>
      <td>${elapsed(r.startedAt, r.status === 'in_progress' ? null : r.completedAt ?? r.haltedAt, ctx.now)}</td>
    </tr>`)}</tbody>
  </table>`;
}

function branchesTable(ctx: RequestContext, here: string, branches: BranchInfo[], retryable: boolean): Html {
  if (branches.length === 0) return html`<p class="muted">No branches.</p>`;
  return html`<table class="branches">
    <thead><tr><th>Branch</th><th>Status</th><th>Halt reason</th><th>Steps</th><th>Started</th><th>Finished</th><th></th></tr></thead>
    <tbody>${branches.map((b) => html`<tr data-branch="${b.id}" data-status="${b.status}">
      <td>${shortId(b.id)}${b.parentBranchId ? html` <span class="muted">from ${shortId(b.parentBranchId)}</span>` : ''}</td>
      <td>${pill(b.status)}</td>
      <td>${b.haltReason ? html`<code>${b.haltReason}</code><div class="muted">${b.haltDetail}</div>` : ''}</td>
      <td>${b.steps}</td><td>${timeCell(b.startedAt)}</td><td>${timeCell(b.completedAt)}</td>
      <td>${retryable && b.status === 'halted'
        ? actionButton(ctx, `${here}/branches/${b.id}/retry`, 'Retry branch', `Retry branch ${b.id}? Only this branch runs again; other halted branches stay halted.`, 'danger')
        : ''}</td>
    </tr>`)}</tbody>
  </table>`;
}

function stepsList(ctx: RequestContext, steps: StepViewRow[], executions: ExecutionViewRow[]): Html {
  if (steps.length === 0) return html`<p class="muted">No steps match.</p>`;
  const byStep = new Map<string, ExecutionViewRow[]>();
  for (const e of executions) byStep.set(e.step_id, [...(byStep.get(e.step_id) ?? []), e]);
  return html`${steps.map((s) => {
    const attempts = byStep.get(s.id) ?? [];
    const errors = attempts.filter((e) => e.outcome === 'failure' || e.outcome === 'crashed').length;
    return html`<details class="step" id="step-${s.id}" data-step="${s.id}" data-node="${s.node}" data-status="${s.status}">
      <summary>${pill(s.status)} <strong>${s.klass}</strong> <span class="muted">${s.node}</span>
        <span class="muted">via ${s.to_transition}</span>
        <span>${attempts.length} attempt${attempts.length === 1 ? '' : 's'}</span>
        ${errors ? html`<span class="stale">${errors} error${errors === 1 ? '' : 's'}</span>` : ''}
        <span class="muted">${elapsed(s.started_at, s.finished_at, ctx.now)}</span>
        <span class="muted">${timeCell(s.started_at)}</span>
      </summary>
      <div>
        <dl class="meta">
          <dt>Step id</dt><dd class="mono">${s.id}</dd>
          <dt>Idempotency key</dt><dd class="mono">${s.idempotency_key}</dd>
          <dt>Branch</dt><dd class="mono">${s.branch_id ?? 'none (on-halt handler)'}</dd>
          ${s.source_step_id ? html`<dt>Copied from</dt><dd class="mono">${s.source_step_id} <span class="muted">(the step of the earlier run this one continues)</span></dd>` : ''}
          <dt>Started / finished</dt><dd>${timeCell(s.started_at)} / ${timeCell(s.finished_at)}</dd>
        </dl>
        <div class="grid2">
          <div><h3>Input</h3>${jsonBlock(s.input, ctx.link(`/raw/steps/${s.id}/input`))}</div>
          <div><h3>Output</h3>${jsonBlock(s.output, ctx.link(`/raw/steps/${s.id}/output`))}</div>
        </div>
        <h3>Attempts</h3>${attemptsTable(attempts)}
      </div>
    </details>`;
  })}`;
}

function attemptsTable(attempts: ExecutionViewRow[]): Html {
  if (attempts.length === 0) return html`<p class="muted">No attempts in this run (its result was carried over from an earlier run).</p>`;
  return html`<table class="attempts">
    <thead><tr><th>#</th><th>Outcome</th><th>Retries / crashes</th><th>Eligible at</th><th>Claimed at</th><th>Finished at</th><th>Process</th></tr></thead>
    <tbody>${attempts.map((e, i) => html`<tr data-execution="${e.id}">
        <td>${i + 1}</td><td>${pill(e.outcome ?? (e.claimed_at ? 'in_progress' : null))}</td><td>${e.retry_count} / ${e.crash_count}</td>
        <td>${timeCell(e.run_at)}</td><td>${timeCell(e.claimed_at)}</td><td>${timeCell(e.completed_at)}</td>
        <td>${e.process_id ? shortId(e.process_id) : '—'}</td>
      </tr>
      ${e.outcome === 'failure' || e.outcome === 'crashed' ? html`<tr class="error-row"><td></td><td colspan="6">
        <strong>${e.error_class ?? 'Error'}</strong>${e.error_code ? html` <code>${e.error_code}</code>` : ''}: ${e.error_message}
        ${e.error_stack ? html`<pre class="stack">${e.error_stack}</pre>` : ''}
      </td></tr>` : ''}`)}</tbody>
  </table>`;
}

async function contextOf(ctx: RequestContext, runId: string): Promise<Html> {
  const values = await contextOfRun(ctx.sql, runId, PREVIEW_CHARS);
  if (values.length === 0) return html`<p class="muted">No context values.</p>`;
  return html`<table class="context">
    <thead><tr><th>Key</th><th>Value</th><th>First set</th><th>Last set</th></tr></thead>
    <tbody>${values.map((v) => html`<tr data-key="${v.key}">
      <td class="mono">${v.key}</td><td>${jsonBlock(v.value, ctx.link(`/raw/runs/${runId}/context`, { key: v.key }))}</td>
      <td>${timeCell(v.first_set_at)}</td><td>${timeCell(v.last_set_at)}</td>
    </tr>`)}</tbody>
  </table>`;
}
