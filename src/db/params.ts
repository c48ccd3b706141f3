/**
 * Parameters that carry many values in one placeholder. Ductwork's pools run with `fetch_types`
 * off, so arrays travel as Postgres array literals (cast in SQL) or as one jsonb document.
 */

/**
 * Names (pipeline classes, steps) as one Postgres text-array literal, cast in SQL
 * (`= any(${textList(names)}::text[])`). Every element is quoted, so any character is safe.
 */
export function textList(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`;
}
