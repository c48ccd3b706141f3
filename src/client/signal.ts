import type { Sql, TxSql } from '../db/connect.js';
import { advanceChannel, notifyWakeup } from '../db/notify.js';
import { wakeWaits } from '../db/queries/jobs.js';
import { findKeyedPipeline, findPipeline } from '../db/queries/pipelines.js';
import { insertSignal, lockPipelineSignals } from '../db/queries/signals.js';
import { encodeJson } from '../definition/json.js';
import { ClientError } from '../errors.js';

/** Where a signal goes: a pipeline id, or the pipeline of a class triggered with a key. */
export type SignalTarget = string | { pipeline: string | { pipelineName?: string; name: string }; key: string };

/** Options of a signal. */
export interface SignalOptions {
  /** Makes delivery idempotent: a second signal of the same event with the same key to the same pipeline is ignored. */
  key?: string;
}

/** What became of a signal. */
export interface SignalReceipt {
  pipelineId: string;
  event: string;
  /**
   * `delivered`: a branch was waiting for it and now continues; `stored`: kept until a branch
   * waits for it; `duplicate`: a signal with the same key was sent before, nothing changed.
   */
  outcome: 'delivered' | 'stored' | 'duplicate';
}

const EVENT_NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

/**
 * Sends `event` with `payload` (JSON) to a pipeline in progress, in one transaction under the
 * pipeline's signal lock, so it can never slip between a branch's arrival at its wait and the
 * wait being recorded. Unknown and finished pipelines are typed errors.
 */
export async function sendSignal(sql: Sql, schema: string, target: SignalTarget, event: string, payload: unknown, options: SignalOptions = {}): Promise<SignalReceipt> {
  if (typeof event !== 'string' || !EVENT_NAME.test(event)) {
    throw new ClientError('signal_invalid', `signal: event must be a name of letters, digits, _ . : - (1-100 characters; got ${JSON.stringify(event) ?? String(event)}).`);
  }
  const encoded = encodeJson(payload === undefined ? null : payload);
  if (!encoded.ok) {
    throw new ClientError('signal_invalid', `signal "${event}": the payload is not JSON at ${encoded.problem.path}: ${encoded.problem.reason}.`, {
      details: { event, path: encoded.problem.path },
    });
  }
  if (options.key !== undefined && (typeof options.key !== 'string' || options.key.length === 0 || options.key.length > 500)) {
    throw new ClientError('signal_invalid', `signal "${event}": key must be a non-empty string of at most 500 characters.`, { details: { event } });
  }
  return sql.begin(async (tx) => {
    const id = await resolveTarget(tx, target);
    await lockPipelineSignals(tx, id);
    const pipeline = await findPipeline(tx, id);
    if (!pipeline) throw new ClientError('signal_target_unknown', `signal "${event}": no pipeline with id ${id} in schema "${schema}".`, { details: { id, event } });
    if (pipeline.status !== 'in_progress') {
      throw new ClientError('signal_target_finished', `signal "${event}": pipeline ${id} (${pipeline.klass}) is ${pipeline.status.replace('_', ' ')}; only a pipeline in progress takes signals.`, {
        details: { id, event, status: pipeline.status },
      });
    }
    const stored = await insertSignal(tx, id, event, encoded.text, options.key ?? null);
    if (!stored) return { pipelineId: id, event, outcome: 'duplicate' as const };
    const woken = await wakeWaits(tx, id, event);
    await notifyWakeup(tx, schema, advanceChannel(pipeline.klass));
    return { pipelineId: id, event, outcome: woken > 0 ? ('delivered' as const) : ('stored' as const) };
  });
}

async function resolveTarget(tx: TxSql, target: SignalTarget): Promise<string> {
  if (typeof target === 'string') {
    if (!/^[0-9a-f-]{36}$/i.test(target)) throw new ClientError('signal_target_unknown', `signal: "${target}" is not a pipeline id (expected a UUID).`, { details: { id: target } });
    return target;
  }
  const klass = typeof target.pipeline === 'string' ? target.pipeline : target.pipeline.pipelineName ?? target.pipeline.name;
  const id = await findKeyedPipeline(tx, klass, target.key);
  if (!id) {
    throw new ClientError('signal_target_unknown', `signal: no pipeline ${klass} was triggered with key ${JSON.stringify(target.key)}.`, { details: { pipeline: klass, key: target.key } });
  }
  return id;
}
