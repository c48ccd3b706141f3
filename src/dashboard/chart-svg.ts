/** The overview's throughput chart: executions finished per minute over the last hour, as SVG bars. */
import type { MinuteBucket } from '../db/queries/activity-reads.js';
import { html, type Html } from './html.js';

const WIDTH = 720;
const HEIGHT = 130;
const LEFT = 44;
const BOTTOM = 18;

/** Stacked bars (successes, failures on top), one per minute, with the steps/s scale on the left. */
export function throughputChart(buckets: MinuteBucket[]): Html {
  const peak = Math.max(1, ...buckets.map((b) => b.succeeded + b.failed));
  const plotHeight = HEIGHT - BOTTOM - 6;
  const slot = (WIDTH - LEFT) / Math.max(1, buckets.length);
  const scale = (n: number) => (n / peak) * plotHeight;
  const bars = buckets.map((b, i) => {
    const x = LEFT + i * slot + 1;
    const ok = scale(b.succeeded);
    const bad = scale(b.failed);
    const minute = new Date(b.minute).toISOString().slice(11, 16);
    return html`<g><title>${minute} UTC: ${b.succeeded} succeeded, ${b.failed} failed (${(b.succeeded / 60).toFixed(2)} steps/s)</title>
      ${ok > 0 ? html`<rect class="ok" x="${x.toFixed(1)}" y="${(HEIGHT - BOTTOM - ok).toFixed(1)}" width="${(slot - 2).toFixed(1)}" height="${ok.toFixed(1)}"></rect>` : ''}
      ${bad > 0 ? html`<rect class="bad" x="${x.toFixed(1)}" y="${(HEIGHT - BOTTOM - ok - bad).toFixed(1)}" width="${(slot - 2).toFixed(1)}" height="${bad.toFixed(1)}"></rect>` : ''}
    </g>`;
  });
  const top = HEIGHT - BOTTOM - plotHeight;
  return html`<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 ${WIDTH} ${HEIGHT}" preserveAspectRatio="xMinYMid meet" role="img" aria-label="Steps per second over the last hour">
    <line x1="${LEFT}" y1="${HEIGHT - BOTTOM}" x2="${WIDTH}" y2="${HEIGHT - BOTTOM}"></line>
    <line x1="${LEFT}" y1="${top}" x2="${WIDTH}" y2="${top}"></line>
    <text x="${LEFT - 6}" y="${top + 4}" text-anchor="end">${(peak / 60).toFixed(peak >= 600 ? 0 : 2)}/s</text>
    <text x="${LEFT - 6}" y="${HEIGHT - BOTTOM}" text-anchor="end">0</text>
    <text x="${LEFT}" y="${HEIGHT - 3}">−60 min</text>
    <text x="${LEFT + (WIDTH - LEFT) / 2}" y="${HEIGHT - 3}" text-anchor="middle">−30 min</text>
    <text x="${WIDTH}" y="${HEIGHT - 3}" text-anchor="end">now</text>
    ${bars}
  </svg>`;
}
