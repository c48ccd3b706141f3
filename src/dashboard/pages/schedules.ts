/** The schedules page: every stored cron schedule with its next and last tick. */
import type { RequestContext } from '../context.js';
import { timeCell } from '../format.js';
import { html } from '../html.js';
import { layout } from '../layout.js';
import { readParams } from '../params.js';
import { page, type Outcome } from '../responses.js';

export async function schedulesPage(ctx: RequestContext): Promise<Outcome> {
  readParams(ctx.query, {});
  const schedules = await ctx.client.schedules();
  return page(layout(ctx, {
    title: 'Schedules',
    section: 'schedules',
    live: true,
    body: html`<h1>Schedules</h1>
      <p class="muted">Cron schedules declared by pipeline classes (<code>static schedules</code>), stored by the engines that run them. Each tick triggers one run, whatever the number of engines.</p>
      <div id="schedules" data-live>${schedules.length === 0
        ? html`<p class="muted">No schedules.</p>`
        : html`<table class="schedules">
          <thead><tr><th>Pipeline</th><th>Name</th><th>Cron</th><th>Time zone</th><th>Missed ticks</th><th>Next tick</th><th>Last tick</th><th>Last run</th></tr></thead>
          <tbody>${schedules.map((s) => html`<tr data-schedule="${s.pipeline}/${s.name}">
            <td>${s.pipeline}</td><td>${s.name}</td><td><code>${s.cron}</code></td><td>${s.timezone}</td><td>${s.missed.replace('_', ' ')}</td>
            <td>${timeCell(s.nextTickAt)}</td><td>${timeCell(s.lastTickAt)}</td>
            <td>${s.lastPipelineId ? html`<a href="${ctx.link(`/pipelines/${s.lastPipelineId}`)}">${s.lastPipelineId.slice(0, 8)}</a>` : ''}</td>
          </tr>`)}</tbody></table>`}</div>`,
  }));
}
