/** The processes page: every registered engine process with its heartbeat. */
import { processList, type ProcessViewRow } from '../../db/queries/activity-reads.js';
import type { RequestContext } from '../context.js';
import { duration, timeCell } from '../format.js';
import { html, type Html } from '../html.js';
import { layout, shortId } from '../layout.js';
import { readParams } from '../params.js';
import { page, type Outcome } from '../responses.js';

/** Heartbeats come every second or so; 30 s of silence is worth a look, 5 min is the default reaper timeout. */
function ageClass(seconds: number): string {
  if (seconds <= 30) return 'fresh';
  return seconds <= 300 ? 'quiet' : 'stale';
}

/** The process table (also on the overview). */
export function processesTable(rows: ProcessViewRow[]): Html {
  if (rows.length === 0) return html`<p class="muted">No engine process is registered: start one with <code>ductwork start</code> or <code>Ductwork.start()</code>.</p>`;
  return html`<table class="processes">
    <thead><tr><th>Role</th><th>Host</th><th>PID</th><th>Threads</th><th>Steps in flight</th><th>Started</th><th>Last heartbeat</th><th>Age</th><th>Id</th></tr></thead>
    <tbody>${rows.map((p) => html`<tr data-process="${p.id}">
      <td>${p.role}</td><td>${p.host}</td><td class="mono">${p.pid}</td><td>${p.threads}</td><td>${p.in_flight}</td>
      <td>${timeCell(p.started_at)}</td><td>${timeCell(p.last_heartbeat_at)}</td>
      <td class="${ageClass(p.heartbeat_age)}">${duration(p.heartbeat_age * 1000)} ago</td><td>${shortId(p.id)}</td>
    </tr>`)}</tbody>
  </table>`;
}

export async function processesPage(ctx: RequestContext): Promise<Outcome> {
  readParams(ctx.query, {});
  const rows = await processList(ctx.sql);
  return page(layout(ctx, {
    title: 'Processes',
    section: 'processes',
    live: true,
    body: html`<h1>Processes</h1>
      <p class="muted">Engines registered in this schema. A process whose heartbeat stops is presumed dead after <code>supervisor.reaper_timeout</code> (300 s by default), sooner when its liveness lock is free, and its claimed steps are re-run elsewhere.</p>
      <div id="processes" data-live>${processesTable(rows)}</div>`,
  }));
}
