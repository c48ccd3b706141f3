/**
 * The operator's actions, each a POST checked for CSRF by the handler: revive a halted pipeline,
 * retry one halted branch. A POST without `confirm=yes` (no script ran to ask) gets a confirmation
 * page first. Cancel a pipeline in progress; send a signal to a waiting one.
 */
import type { RequestContext } from '../context.js';
import { html } from '../html.js';
import { layout } from '../layout.js';
import { uuid } from '../params.js';
import { HttpError, page, type Outcome } from '../responses.js';

function confirmation(ctx: RequestContext, question: string, back: string): Outcome {
  return page(layout(ctx, {
    title: 'Confirm',
    section: 'pipelines',
    body: html`<div class="confirm-box">
      <h1>Are you sure?</h1>
      <p>${question}</p>
      <form method="post" action="${ctx.link(ctx.path)}" class="actions">
        <input type="hidden" name="csrf" value="${ctx.csrfToken(ctx.path)}">
        <input type="hidden" name="confirm" value="yes">
        <button type="submit" class="primary">Yes, go ahead</button>
        <a href="${back}">Cancel</a>
      </form>
    </div>`,
  }));
}

/** POST `/pipelines/:id/revive`. */
export async function revivePipelineAction(ctx: RequestContext, params: Record<string, string>): Promise<Outcome> {
  const id = uuid(params.id!, 'pipeline id');
  const back = ctx.link(`/pipelines/${id}`);
  if (ctx.form?.get('confirm') !== 'yes') return confirmation(ctx, `Revive pipeline ${id}? Its halted branches run again; completed steps are kept.`, back);
  const cancelled = (await ctx.client.status(id)).status === 'cancelled';
  await ctx.client.revive(id);
  return { kind: 'redirect', location: ctx.link(`/pipelines/${id}`, { notice: cancelled ? 'resumed' : 'revived' }) };
}

/** POST `/pipelines/:id/cancel`. */
export async function cancelPipelineAction(ctx: RequestContext, params: Record<string, string>): Promise<Outcome> {
  const id = uuid(params.id!, 'pipeline id');
  const back = ctx.link(`/pipelines/${id}`);
  if (ctx.form?.get('confirm') !== 'yes') return confirmation(ctx, `Cancel pipeline ${id}? No new step starts and running steps are told to stop; revive resumes it.`, back);
  await ctx.client.cancel(id, { reason: 'cancelled from the dashboard' });
  return { kind: 'redirect', location: ctx.link(`/pipelines/${id}`, { notice: 'cancelled' }) };
}

/** POST `/pipelines/:id/signal` with `event` and a JSON `payload` (the form on a waiting pipeline's page). */
export async function signalPipelineAction(ctx: RequestContext, params: Record<string, string>): Promise<Outcome> {
  const id = uuid(params.id!, 'pipeline id');
  const event = ctx.form?.get('event') ?? '';
  const raw = ctx.form?.get('payload')?.trim() || 'null';
  let payload: unknown;
  try {
    payload = JSON.parse(raw);
  } catch (error) {
    throw new HttpError(400, `The payload is not valid JSON: ${(error as Error).message}`);
  }
  const receipt = await ctx.client.signal(id, event, payload);
  return { kind: 'redirect', location: ctx.link(`/pipelines/${id}`, { notice: receipt.outcome === 'delivered' ? 'signalled' : 'signal_stored' }) };
}

/** POST `/pipelines/:id/branches/:branchId/retry`. */
export async function retryBranchAction(ctx: RequestContext, params: Record<string, string>): Promise<Outcome> {
  const id = uuid(params.id!, 'pipeline id');
  const branchId = uuid(params.branchId!, 'branch id');
  const back = ctx.link(`/pipelines/${id}`);
  if (ctx.form?.get('confirm') !== 'yes') return confirmation(ctx, `Retry branch ${branchId} of pipeline ${id}? Only this branch runs again.`, back);
  await ctx.client.retryBranch(id, branchId);
  return { kind: 'redirect', location: ctx.link(`/pipelines/${id}`, { notice: 'retried' }) };
}
