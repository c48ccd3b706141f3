/** The overview: pipelines by status, throughput over the last hour, failures and live processes. */
import { failingCounts, pipelineCounts, processList, throughputLastHour } from '../../db/queries/activity-reads.js';
import { throughputChart } from '../chart-svg.js';
import type { RequestContext } from '../context.js';
import { html } from '../html.js';
import { layout } from '../layout.js';
import { readParams } from '../params.js';
import { page, type Outcome } from '../responses.js';
import { pipelinesTable } from './pipelines.js';
import { processesTable } from './processes.js';

export async function overviewPage(ctx: RequestContext): Promise<Outcome> {
  readParams(ctx.query, {});
  const [counts, buckets, failing, processes, latest] = await Promise.all([
    pipelineCounts(ctx.sql),
    throughputLastHour(ctx.sql),
    failingCounts(ctx.sql),
    processList(ctx.sql),
    ctx.client.listPipelines({ limit: 10 }),
  ]);
  const lastMinutes = buckets.slice(-5);
  const recentRate = lastMinutes.reduce((sum, b) => sum + b.succeeded, 0) / (lastMinutes.length * 60);
  const hourTotal = buckets.reduce((sum, b) => sum + b.succeeded, 0);
  const card = (className: string, href: string, n: number, label: string) =>
    html`<a class="card ${className}" href="${href}" data-card="${className}"><div class="n">${n.toLocaleString('en')}</div><div class="label">${label}</div></a>`;
  return page(layout(ctx, {
    title: 'Overview',
    section: 'overview',
    live: true,
    body: html`<h1>Overview</h1>
      <section id="overview-cards" data-live class="cards">
        ${card('in_progress', ctx.link('/pipelines', { status: 'in_progress' }), counts.in_progress, 'In progress')}
        ${card('completed', ctx.link('/pipelines', { status: 'completed' }), counts.completed, 'Completed')}
        ${card('halted', ctx.link('/pipelines', { status: 'halted' }), counts.halted, 'Halted')}
        ${card('failing', ctx.link('/errors', { since: '1h' }), failing.failedLastHour, 'Step failures, last hour')}
        ${card('retrying', ctx.link('/errors'), failing.awaitingRetry, 'Steps waiting to retry')}
      </section>
      <h2>Steps per second, last hour</h2>
      <section id="overview-chart" data-live class="chart">
        <p class="muted">${recentRate.toFixed(2)} steps/s over the last 5 minutes · ${hourTotal.toLocaleString('en')} steps in the last hour</p>
        ${throughputChart(buckets)}
      </section>
      <h2>Live processes</h2>
      <section id="overview-processes" data-live>${processesTable(processes)}</section>
      <h2>Latest pipelines</h2>
      <section id="overview-latest" data-live>${pipelinesTable(ctx, latest.items)}
        <p><a href="${ctx.link('/pipelines')}">All pipelines →</a></p></section>`,
  }));
}
