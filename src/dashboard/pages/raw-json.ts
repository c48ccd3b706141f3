/** The raw JSON behind a truncated preview, served as `application/json`. */
import { rawJson } from '../../db/queries/pipeline-reads.js';
import type { RequestContext } from '../context.js';
import { contextKey, oneOf, readParams, uuid } from '../params.js';
import { HttpError, type Outcome } from '../responses.js';

function json(text: string | undefined, what: string): Outcome {
  if (text === undefined) throw new HttpError(404, `No ${what}.`);
  return { kind: 'page', body: text, type: 'application/json; charset=utf-8' };
}

/** `/raw/steps/:id/input` and `/raw/steps/:id/output`. */
export async function rawStepJson(ctx: RequestContext, params: Record<string, string>): Promise<Outcome> {
  readParams(ctx.query, {});
  const stepId = uuid(params.id!, 'step id');
  const field = oneOf(['input', 'output'] as const)(params.field!, 'field');
  return json(await rawJson(ctx.sql, { kind: field === 'input' ? 'step_input' : 'step_output', stepId }), `${field} for step ${stepId}`);
}

/** `/raw/runs/:id/output`. */
export async function rawRunOutput(ctx: RequestContext, params: Record<string, string>): Promise<Outcome> {
  readParams(ctx.query, {});
  const runId = uuid(params.id!, 'run id');
  return json(await rawJson(ctx.sql, { kind: 'run_output', runId }), `output for run ${runId}`);
}

/** `/raw/runs/:id/context?key=...`. */
export async function rawContextValue(ctx: RequestContext, params: Record<string, string>): Promise<Outcome> {
  const runId = uuid(params.id!, 'run id');
  const { key } = readParams(ctx.query, { key: contextKey });
  if (key === undefined) throw new HttpError(400, 'key: required.');
  return json(await rawJson(ctx.sql, { kind: 'context', runId, key }), `context value "${key}" in run ${runId}`);
}
