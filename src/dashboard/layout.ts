/** The page shell (header, navigation, assets) and the small pieces every page shares. */
import type { RequestContext, LinkQuery } from './context.js';
import { html, type Html, type HtmlValue } from './html.js';

export type Section = 'overview' | 'pipelines' | 'errors' | 'processes' | 'schedules';

const NAV: [Section, string, string][] = [
  ['overview', '/', 'Overview'],
  ['pipelines', '/pipelines', 'Pipelines'],
  ['errors', '/errors', 'Step errors'],
  ['processes', '/processes', 'Processes'],
  ['schedules', '/schedules', 'Schedules'],
];

/** A whole page. `live` pages refetch their `data-live` regions every few seconds. */
export function layout(ctx: RequestContext, options: { title: string; section: Section; live?: boolean; body: HtmlValue }): Html {
  const interval = options.live ? String(ctx.liveIntervalMs) : undefined;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Ductwork</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${ctx.link('/assets/dashboard.css', { v: ctx.version })}">
<script src="${ctx.link('/assets/dashboard.js', { v: ctx.version })}" defer></script>
</head>
<body${interval ? html` data-live-interval="${interval}"` : ''}>
<header class="top">
  <a class="brand" href="${ctx.link('/')}">Ductwork<span class="version">v${ctx.version}</span></a>
  <nav>${NAV.map(([section, path, label]) => html`<a href="${ctx.link(path)}"${section === options.section ? html` class="here" aria-current="page"` : ''}>${label}</a>`)}</nav>
</header>
<main>
${options.body}
</main>
</body>
</html>`;
}

/** A status as a colored pill (`data-status` lets tests and scripts find it). */
export function pill(status: string | null): Html {
  if (status === null) return html`<span class="pill">pending</span>`;
  return html`<span class="pill ${status}" data-status="${status}">${status.replace('_', ' ')}</span>`;
}

/** ← / → links around the current page (0-based); ← is disabled on the first page. */
export function pager(ctx: RequestContext, path: string, query: LinkQuery, pageKey: string, page: number, hasNext: boolean): Html {
  const at = (n: number) => ctx.link(path, { ...query, [pageKey]: n === 0 ? undefined : n });
  return html`<div class="pager">
    ${page > 0 ? html`<a href="${at(page - 1)}" rel="prev">← Newer</a>` : html`<span class="off">← Newer</span>`}
    <span class="muted">page ${page + 1}</span>
    ${hasNext ? html`<a href="${at(page + 1)}" rel="next">Older →</a>` : html`<span class="off">Older →</span>`}
  </div>`;
}

/**
 * A button that POSTs to `action` with a CSRF token. The script asks `question` first and then
 * fills in `confirm`; without script the server answers with a confirmation page instead.
 */
export function actionButton(ctx: RequestContext, action: string, label: string, question: string, className = 'primary'): Html {
  return html`<form method="post" action="${ctx.link(action)}" data-confirm="${question}" class="inline-action">
    <input type="hidden" name="csrf" value="${ctx.csrfToken(action)}">
    <input type="hidden" name="confirm" value="">
    <button type="submit" class="${className}">${label}</button>
  </form>`;
}

/** A short id for tables (the full one in the title). */
export function shortId(id: string): Html {
  return html`<span class="mono" title="${id}">${id.slice(0, 8)}…${id.slice(-4)}</span>`;
}
