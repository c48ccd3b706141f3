/** How the dashboard shows times, durations and stored JSON. */
import { html, type Html } from './html.js';
import type { TextPreview } from '../db/queries/pipeline-reads.js';

/** Characters of a stored JSON text shown in a page before it is cut (the raw link has all). */
export const PREVIEW_CHARS = 2000;

/** `2026-11-24 10:02:03.123Z`, or an em dash for no time. */
export function isoTime(date: Date | null | undefined): string {
  return date ? date.toISOString().replace('T', ' ') : '—';
}

/** A time as a `<time>` element with its exact ISO value. */
export function timeCell(date: Date | null | undefined): Html {
  return date ? html`<time datetime="${date.toISOString()}">${isoTime(date)}</time>` : html`—`;
}

/** `850 ms`, `12.3 s`, `4m 05s`, `2h 03m`, `3d 04h`. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const pad = (n: number) => String(Math.floor(n)).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${pad((s % 86400) / 3600)}h`;
}

/** The time from `from` to `to`, or to now (by the page's clock) while it is still running. */
export function elapsed(from: Date, to: Date | null | undefined, now: Date): string {
  return duration((to ?? now).getTime() - from.getTime());
}

/** `1.2 kB`, `3.4 MB`. */
export function byteSize(chars: number): string {
  if (chars < 1000) return `${chars} B`;
  if (chars < 1_000_000) return `${(chars / 1000).toFixed(1)} kB`;
  return `${(chars / 1_000_000).toFixed(1)} MB`;
}

/**
 * A stored JSON value for a page: pretty-printed when it is short enough to show whole, else its
 * first {@link PREVIEW_CHARS} characters, marked as cut, with a link to the raw JSON.
 */
export function jsonBlock(preview: TextPreview, rawHref: string): Html {
  if (preview.head === null) return html`<span class="muted">none</span>`;
  if (preview.length > PREVIEW_CHARS) {
    return html`<pre class="json">${preview.head}…</pre>
      <p class="truncated">Truncated: showing ${PREVIEW_CHARS.toLocaleString('en')} of ${preview.length.toLocaleString('en')} characters (${byteSize(preview.length)}). <a href="${rawHref}" target="_blank" rel="noopener">Raw JSON</a></p>`;
  }
  let shown = preview.head;
  try {
    shown = JSON.stringify(JSON.parse(preview.head), null, 2);
  } catch {
    // Stored text that is not JSON is shown as it is.
  }
  return html`<pre class="json">${shown}</pre> <a class="raw" href="${rawHref}" target="_blank" rel="noopener">raw</a>`;
}
