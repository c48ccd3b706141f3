/**
 * HTML built by a tagged template that escapes every interpolated value, so data from the
 * database (step names, messages, JSON) can never become markup. Only {@link Html} values, made
 * by `html` itself or by {@link trusted}, pass through unescaped.
 */

/** A fragment of markup that is already safe. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Anything `html` accepts: text (escaped), markup, lists of either, and nothing (omitted). */
export type HtmlValue = Html | string | number | null | undefined | false | readonly HtmlValue[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function render(value: HtmlValue): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

/** The escaping template tag: html`<td>${untrusted}</td>`. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** Markup produced by this module's own code (never from data). */
export function trusted(markup: string): Html {
  return new Html(markup);
}
