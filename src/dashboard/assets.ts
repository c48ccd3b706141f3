/**
 * The dashboard's stylesheet and script, served from `<mount>/assets/`. External files rather
 * than inline blocks, so the Content-Security-Policy can forbid every inline script and style.
 */

export const STYLESHEET = `
:root { color-scheme: dark; --bg: #0f1419; --panel: #171d24; --line: #27313c; --text: #d7dee6; --muted: #8593a3;
  --accent: #5aa9e6; --ok: #3fb67b; --run: #e2b43c; --bad: #e5534b; --idle: #56616d; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
header.top { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: var(--panel); border-bottom: 1px solid var(--line); }
header.top .brand { font-weight: 700; font-size: 16px; color: var(--text); }
header.top .version { color: var(--muted); font-size: 12px; margin-left: 6px; font-weight: 400; }
header.top nav { display: flex; gap: 4px; }
header.top nav a { padding: 6px 12px; border-radius: 6px; color: var(--text); }
header.top nav a.here { background: var(--line); }
main { padding: 20px 24px 48px; max-width: 1400px; }
h1 { font-size: 20px; margin: 0 0 16px; } h2 { font-size: 16px; margin: 28px 0 10px; } h3 { font-size: 14px; margin: 14px 0 6px; }
.muted { color: var(--muted); } .mono, code, pre, td.id { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; }
.card { display: block; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; color: var(--text); }
.card .n { font-size: 26px; font-weight: 700; } .card .label { color: var(--muted); }
.card.completed .n { color: var(--ok); } .card.in_progress .n { color: var(--run); } .card.halted .n, .card.failing .n { color: var(--bad); }
table { width: 100%; border-collapse: collapse; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
tr:last-child td { border-bottom: 0; }
.pill { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 600; background: var(--idle); color: #fff; white-space: nowrap; }
.pill.completed, .pill.success { background: #1f6f4a; } .pill.in_progress, .pill.advancing { background: #8a6d1d; }
.pill.halted, .pill.failed, .pill.failure, .pill.crashed { background: #9b2f2a; }
.pill.cancelled { background: #6b6b6b; }
form.signal { display: flex; gap: .5em; align-items: center; flex-wrap: wrap; } form.signal input[name=payload] { min-width: 20em; font-family: monospace; }
form.filters { display: flex; flex-wrap: wrap; gap: 10px; align-items: end; margin-bottom: 14px; }
form.filters label { display: flex; flex-direction: column; gap: 3px; color: var(--muted); font-size: 12px; }
input, select, button { background: var(--bg); color: var(--text); border: 1px solid var(--line); border-radius: 6px; padding: 6px 9px; font: inherit; }
button { cursor: pointer; background: var(--line); white-space: nowrap; } button:hover { border-color: var(--accent); }
button.danger { background: #5c1f1c; border-color: #9b2f2a; } button.primary { background: #1d4f73; border-color: var(--accent); }
.pager { display: flex; gap: 10px; align-items: center; margin: 12px 0; }
.pager .off { color: var(--idle); }
.notice { padding: 10px 14px; border-radius: 8px; margin-bottom: 16px; border: 1px solid var(--line); background: #173026; }
.notice.error { background: #3a1716; border-color: #9b2f2a; }
.graph svg { max-width: 100%; height: auto; display: block; }
td time { white-space: nowrap; }
.chart svg { max-width: 760px; display: block; }
.graph { overflow-x: auto; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px; }
.graph svg text { fill: var(--text); font-size: 12px; } .graph svg text.sub { fill: var(--muted); font-size: 11px; }
.graph svg text.edge { fill: var(--muted); font-size: 10.5px; }
.graph .node rect { fill: #1e252e; stroke: var(--idle); stroke-width: 2; }
.graph .node.completed rect { stroke: var(--ok); fill: #15291f; } .graph .node.running rect { stroke: var(--run); fill: #2b2514; }
.graph .node.failed rect { stroke: var(--bad); fill: #321716; } .graph .node.on-halt rect { stroke-dasharray: 5 4; }
.graph .node.selected rect { stroke-width: 3.5; }
.graph path.edge { fill: none; stroke: #4b5866; stroke-width: 1.5; } .graph marker path { fill: #4b5866; }
.chart svg rect.ok { fill: var(--ok); } .chart svg rect.bad { fill: var(--bad); } .chart svg text { fill: var(--muted); font-size: 11px; }
.chart svg line { stroke: var(--line); }
.chart { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
details.step { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; margin-bottom: 6px; }
details.step > summary { cursor: pointer; padding: 8px 12px; display: flex; gap: 14px; align-items: center; flex-wrap: wrap; }
details.step > div { padding: 4px 14px 14px; border-top: 1px solid var(--line); }
pre { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; overflow: auto; max-height: 320px; margin: 4px 0; white-space: pre-wrap; word-break: break-word; }
pre.stack { color: #f0a8a3; }
.truncated { color: var(--run); font-size: 12px; margin: 2px 0 8px; } a.raw { font-size: 12px; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 0 0 8px; }
.meta dt { color: var(--muted); } .meta dd { margin: 0; }
.actions { display: flex; gap: 10px; align-items: center; margin: 10px 0; }
.title-row { display: flex; align-items: center; gap: 14px; flex-wrap: wrap; } .title-row h1 { margin: 0; }
.fresh { color: var(--ok); } .quiet { color: var(--run); } .stale { color: var(--bad); }
.confirm-box { max-width: 640px; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 18px 20px; }
`;

/**
 * Live updates and confirmations. Regions marked `data-live` are refetched every few seconds and
 * swapped in place (open `<details>` stay open); forms marked `data-confirm` ask first and then
 * send the server-side confirmation field, so a page without script still gets a confirm step.
 */
export const SCRIPT = `
(() => {
  'use strict';
  document.addEventListener('submit', (event) => {
    const form = event.target;
    const question = form.getAttribute('data-confirm');
    if (!question) return;
    if (!window.confirm(question)) { event.preventDefault(); return; }
    const field = form.querySelector('input[name="confirm"]');
    if (field) field.value = 'yes';
  });

  const interval = Number(document.body.getAttribute('data-live-interval') || 0);
  if (!interval) return;
  let updates = 0;
  async function refresh() {
    try {
      if (!document.hidden) {
        const response = await fetch(location.href, { credentials: 'same-origin', cache: 'no-store' });
        if (response.ok) {
          const next = new DOMParser().parseFromString(await response.text(), 'text/html');
          const open = new Set(Array.from(document.querySelectorAll('details[open][id]'), (d) => d.id));
          for (const region of document.querySelectorAll('[data-live]')) {
            const fresh = next.getElementById(region.id);
            if (fresh) region.replaceWith(document.importNode(fresh, true));
          }
          for (const id of open) document.getElementById(id)?.setAttribute('open', '');
          document.body.setAttribute('data-live-updates', String(++updates));
        }
      }
    } catch (error) {
      // A failed poll (server restarting, network) is retried at the next tick.
    }
    setTimeout(refresh, interval);
  }
  setTimeout(refresh, interval);
})();
`;
