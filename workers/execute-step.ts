import { ContextError, StepError, serializeError } from '../src/errors.js';
import { encodeJson } from '../src/definition/json.js';
import { STEP_RUNTIME, type StepClass, type StepContext, type StepRuntimeInfo } from '../src/definition/step.js';
import type { StepTask, StepTaskResult } from './protocol.js';

/**
 * Runs one step's user code and turns every outcome into a value: output JSON text, or the
 * error user code threw. Unknown step names, unreadable input and non-JSON output are reported
 * as typed errors naming the step (they consume the retry budget like any user error).
 */
export async function executeStep(registry: ReadonlyMap<string, StepClass>, task: StepTask, context: StepContext, signal: AbortSignal): Promise<StepTaskResult> {
  try {
    const Klass = registry.get(task.step);
    if (!Klass) {
      throw new StepError(
        'unknown_step',
        `Unknown step "${task.step}": no pipeline exported by the app module uses a step of that name. ` +
          'If it was renamed, set `static stepName = "' + task.step + '"` on the new class so runs in flight still find it.',
        { details: { step: task.step } },
      );
    }
    let input: unknown;
    try {
      input = JSON.parse(task.input);
    } catch (cause) {
      throw new StepError('step_input_invalid', `Step ${task.step}: its stored input is not valid JSON (${(cause as Error).message}).`, {
        cause,
        details: { step: task.step },
      });
    }
    const step = new Klass();
    const runtime: StepRuntimeInfo = { ...task.info, context, signal };
    step[STEP_RUNTIME] = runtime;
    const output = await (step.execute as (input: unknown) => unknown)(input);
    const encoded = encodeJson(output);
    if (!encoded.ok) {
      throw new StepError(
        'step_output_not_json',
        `Step ${task.step} returned a value that is not JSON at ${encoded.problem.path}: ${encoded.problem.reason}. ` +
          'Return plain objects, arrays, strings, finite numbers, booleans or null.',
        { details: { step: task.step, path: encoded.problem.path } },
      );
    }
    return runtime.runNext ? { ok: true, output: encoded.text, runNext: runtime.runNext } : { ok: true, output: encoded.text };
  } catch (error) {
    return { ok: false, error: serializeError(error) };
  }
}

/** Checks a context key before it leaves the thread. */
export function assertContextKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new ContextError('context_key_invalid', `Key must be a string (context keys are non-empty strings; got ${typeof key}).`);
  }
}

/** Encodes a context value, refusing anything that is not JSON. */
export function encodeContextValue(key: string, value: unknown): string {
  const encoded = encodeJson(value);
  if (!encoded.ok) {
    throw new ContextError('context_value_invalid', `context.set("${key}"): the value is not JSON at ${encoded.problem.path}: ${encoded.problem.reason}.`, {
      details: { key, path: encoded.problem.path },
    });
  }
  return encoded.text;
}
